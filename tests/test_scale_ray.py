"""`--engine ray` on a local Ray cluster (2 CPUs, started once for the module): synth agrees with the local
engine, resumes, survives a killed actor and records bad items; a folder of videos converts."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[dev,ray]')")
pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install -e '.[dev,ray]')")

from vidtrans.cli import main  # noqa: E402
from vidtrans.engines import RayOptions  # noqa: E402
from vidtrans.images import read_image  # noqa: E402
from vidtrans.modeldir import ModelDirectory  # noqa: E402
from vidtrans.runtime import RuntimeOptions  # noqa: E402
from vidtrans.scale.cluster import TEMP_DIR  # noqa: E402
from vidtrans.scenes import write_scene_dataset  # noqa: E402
from vidtrans.synthesis import SynthOptions, synth  # noqa: E402
from vidtrans.synthesis.merge import _TEMPORARY  # noqa: E402
from vidtrans.translator import Translator  # noqa: E402
from vidtrans.video import VideoReader  # noqa: E402

CPU = ["--backend", "torch", "--device", "cpu"]
CPU_TORCH = RuntimeOptions(backend="torch", device="cpu")


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[str]:
    """A Ray cluster on this machine for the whole module; vidtrans uses it as the process' Ray."""
    ray.init(address="local", num_cpus=2, object_store_memory=96 * 2**20, include_dashboard=False,
             logging_level=logging.ERROR, _temp_dir=TEMP_DIR)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(autouse=True)
def _torch_threads(one_torch_thread: None) -> None:
    """The driver's own torch (the local engine's runs) on one thread, as in the other synth tests."""


def gta5_tree(root: Path, *, count: int, size: tuple[int, int], corrupt: tuple[int, ...] = ()) -> Path:
    """A GTA5-layout tree (images/ + labels/) of procedural game scenes; `corrupt` images are truncated."""
    write_scene_dataset(root, count=count, width=size[0], height=size[1])
    tree = root / "game"
    for index in corrupt:
        (tree / "images" / f"{index:05d}.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return tree


def files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def manifest(output: Path) -> tuple[list[dict], dict]:
    lines = [json.loads(line) for line in (output / "manifest.jsonl").read_text().splitlines()]
    return lines[:-1], lines[-1]


def part_keys(output: Path) -> list[str]:
    return [json.loads(line)["key"] for part in sorted((output / "manifest.parts").iterdir())
            for line in part.read_text().splitlines()]


def test_synth_on_ray_agrees_with_the_local_engine_resumes_and_reports_bad_items(
        tmp_path: Path, tiny_model: ModelDirectory, cluster: str, capsys: pytest.CaptureFixture[str]) -> None:
    data = gta5_tree(tmp_path / "scenes", count=14, size=(64, 48), corrupt=(5,))
    wide = gta5_tree(tmp_path / "wide", count=2, size=(80, 40))  # a second size: batches of mixed sizes
    for kind in ("images", "labels"):
        for index, name in enumerate(("00002b.png", "00009b.png")):
            shutil.copy(wide / kind / f"{index:05d}.png", data / kind / name)
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    args = ["--model", str(tiny_model.path), "--batch-size", "3", "--json", "-q", *CPU]
    assert main(["synth", str(data), str(local), *args]) == 3
    capsys.readouterr()
    assert main(["synth", str(data), str(on_ray), *args, "--engine", "ray"]) == 3
    summary = json.loads(capsys.readouterr().out)
    assert (summary["engine"], summary["translated"], summary["failed"], summary["workers"]) == ("ray", 15, 1, 1)

    assert files(on_ray) == files(local)
    records, total = manifest(on_ray)
    local_records, local_total = manifest(local)
    assert records == local_records  # the same entries, in the same order, with the same fields
    assert {k: v for k, v in total.items() if k != "written"} == {k: v for k, v in local_total.items() if k != "written"}
    bad = records[[r["key"] for r in records].index("images/00005.png")]
    assert bad["status"] == "failed" and "not a readable image" in bad["error"] and bad["output"] is None
    for record in records:
        for label in record["labels"]:
            assert (on_ray / label).read_bytes() == (local / label).read_bytes() == (data / label).read_bytes()
        if record["output"]:
            ours, theirs = read_image(on_ray / record["output"]), read_image(local / record["output"])
            assert ours.shape == theirs.shape == (*record["size"][::-1], 3)
            assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1

    shutil.copy(data / "images" / "00004.png", data / "images" / "00005.png")  # fixed: the rerun retries it
    assert main(["synth", str(data), str(on_ray), *args, "--engine", "ray"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["translated"], summary["failed"], summary["already_done"]) == (1, 0, 15)
    assert sorted(part_keys(on_ray)) == sorted([r["key"] for r in records] + ["images/00005.png"])

    # rerun again, joining the running cluster from another process (RAY_ADDRESS): nothing to do
    before = {name: (on_ray / name).stat().st_mtime_ns for name in files(on_ray) if "manifest" not in name}
    parts = (on_ray / "manifest.parts" / "part-0-of-1.jsonl").read_bytes()
    done = subprocess.run([sys.executable, "-m", "vidtrans", "synth", str(data), str(on_ray), *args,
                           "--engine", "ray"], env={**os.environ, "RAY_ADDRESS": cluster, "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["translated"], summary["failed"], summary["already_done"]) == (0, 0, 16)
    assert summary["merge"]["ok"] == 16 and summary["engine"] == "ray"
    assert (on_ray / "manifest.parts" / "part-0-of-1.jsonl").read_bytes() == parts
    assert {name: (on_ray / name).stat().st_mtime_ns for name in before} == before

    # the local engine resumes what Ray wrote: the same manifest, so nothing to do and the same merge
    merged = (on_ray / "manifest.jsonl").read_text().splitlines()[:-1]
    assert main(["synth", str(data), str(on_ray), *args]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["engine"], summary["translated"], summary["already_done"]) == ("local", 0, 16)
    assert (on_ray / "manifest.jsonl").read_text().splitlines()[:-1] == merged
    assert {name: (on_ray / name).stat().st_mtime_ns for name in before} == before

    # a file that cannot be written stops the job with one line naming it, not a Ray traceback
    shutil.copy(data / "images" / "00001.png", data / "images" / "00013b.png")
    (on_ray / "images" / "00013b.png").mkdir()
    assert main(["synth", str(data), str(on_ray), *args, "--engine", "ray"]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"vidtrans: error: {on_ray / 'images' / '00013b.png'}: cannot write")
    assert error.count("\n") == 1


def _translate_actors() -> dict[str, dict]:
    """The GCS's records of the job's translating actors (their process ids, restarts and states)."""
    from ray._private import state

    return {actor_id: actor for actor_id, actor in state.actors().items()
            if "_Translate" in actor.get("ActorClassName", "")}


@pytest.fixture(scope="module")
def slow_model(tmp_path_factory: pytest.TempPathFactory) -> ModelDirectory:
    """A generator wide enough (ngf 32, 6 blocks) that 40 items take seconds: the actor is killed mid-job
    however busy the machine, not after the job ended."""
    import torch

    from vidtrans.modeldir import ModelInfo, save_model
    from vidtrans.networks import ResnetGeneratorConfig, build_generator, init_weights

    torch.manual_seed(0)
    config = ResnetGeneratorConfig(ngf=32, n_blocks=6)
    return save_model(tmp_path_factory.mktemp("models") / "slow", ModelInfo(name="slow", generator=config),
                      init_weights(build_generator(config)))


def test_synth_on_ray_survives_a_killed_actor_with_every_item_once(tmp_path: Path, slow_model: ModelDirectory) -> None:
    count = 40
    data = gta5_tree(tmp_path / "scenes", count=count, size=(192, 128))
    out = tmp_path / "out"
    part = out / "manifest.parts" / "part-0-of-1.jsonl"
    killed: list[tuple[int, int]] = []
    stop = threading.Event()

    def kill_the_actor_mid_job() -> None:
        while not stop.is_set():
            done = part.read_bytes().count(b"\n") if part.exists() else 0
            alive = [a for a in _translate_actors().values() if a["State"] == "ALIVE" and a.get("Pid")]
            if done >= 2 and alive:
                os.kill(alive[0]["Pid"], signal.SIGKILL)
                killed.append((alive[0]["Pid"], done))
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_the_actor_mid_job, daemon=True)
    killer.start()
    try:
        summary = synth(data, out, model=slow_model, options=SynthOptions(
            runtime=CPU_TORCH, batch_size=2, progress=False, ray=RayOptions()))
    finally:
        stop.set()
        killer.join(timeout=10)
    assert killed and killed[0][1] < count, "the actor was not killed while the job ran"
    assert any(actor["NumRestarts"] >= 1 for actor in _translate_actors().values())  # Ray restarted it
    assert summary.merge is not None and summary.merge.complete and summary.merge.ok == count
    keys = part_keys(out)
    assert len(keys) == len(set(keys)) == count  # every item recorded exactly once
    assert not [name for name in files(out) if _TEMPORARY.match(Path(name).name)]
    records, total = manifest(out)
    assert total["ok"] == count and [r["key"] for r in records] == [f"images/{i:05d}.png" for i in range(count)]
    translator = Translator.from_model(slow_model, CPU_TORCH)
    for record in records:  # each output is the translation of its own input, not of another's
        wanted = translator.translate(read_image(data / record["source"])[None])[0]
        assert np.abs(read_image(out / record["output"]).astype(int) - wanted.astype(int)).max() <= 1


def test_a_folder_of_videos_converts_on_ray(tmp_path: Path, tiny_model: ModelDirectory,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    write_scene_dataset(tmp_path / "scenes", count=2, width=64, height=48, video=True, frames_per_clip=5)
    folder = tmp_path / "scenes" / "game" / "videos"
    (folder / "broken.mp4").write_bytes(b"not a video")
    args = ["--model", str(tiny_model.path), "--encoder", "libx264", "--preset", "medium", "--crf", "10", "--json", "-q",
            *CPU]
    assert main(["convert", str(folder), "-o", str(tmp_path / "local"), *args]) == 3
    capsys.readouterr()
    assert main(["convert", str(folder), "-o", str(tmp_path / "ray"), *args, "--engine", "ray"]) == 3
    captured = capsys.readouterr()
    assert "1 of 3 videos not fully converted" in captured.err and "broken.mp4" in captured.err
    summary = json.loads(captured.out)
    assert (summary["engine"], summary["videos"], summary["failed"]) == ("ray", 3, 1)
    assert [(Path(r["input"]).name, r["ok"]) for r in summary["results"]] == [
        ("broken.mp4", False), ("clip_00000.mp4", True), ("clip_00001.mp4", True)]
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == ["clip_00000.mp4", "clip_00001.mp4"]
    for name in ("clip_00000.mp4", "clip_00001.mp4"):  # the same frames as the local engine wrote
        ours = [f.pixels.astype(int) for f in VideoReader(tmp_path / "ray" / name)]
        theirs = [f.pixels.astype(int) for f in VideoReader(tmp_path / "local" / name)]
        assert len(ours) == len(theirs) == 5
        assert all(np.abs(a - b).mean() < 0.5 for a, b in zip(ours, theirs))
