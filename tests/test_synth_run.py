"""`vidtrans synth` end to end on the CPU with a tiny generator: mirror trees, labels, manifest, failures,
resume after SIGKILL, shards and merge, video sampling."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from vidtrans.cli import main
from vidtrans.images import read_image
from vidtrans.modeldir import ModelDirectory
from vidtrans.synthesis.merge import _TEMPORARY

CPU = ["--backend", "torch", "--device", "cpu", "-q"]


@pytest.fixture
def model(tiny_model: ModelDirectory) -> Path:
    """The shared tiny generator (ngf 8, 2 blocks; conftest), as a model directory path."""
    return tiny_model.path


def _gta5(root: Path, count: int, *, size: tuple[int, int] = (64, 48), corrupt: tuple[int, ...] = ()) -> Path:
    rng = np.random.default_rng(count)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(count):
        name = f"{i:05d}.png"
        if i in corrupt:
            (root / "images" / name).write_bytes(b"\x89PNG\r\n\x1a\n truncated")
        else:
            cv2.imwrite(str(root / "images" / name), rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
        cv2.imwrite(str(root / "labels" / name), rng.integers(0, 34, (size[1], size[0]), dtype=np.uint8))
    (root / "readme.txt").write_text("not an image")
    return root


def _cityscapes(root: Path) -> tuple[Path, list[str]]:
    rng = np.random.default_rng(1)
    labels = []
    for split, city, n in (("train", "aachen", 3), ("val", "lindau", 2)):
        for i in range(n):
            prefix = f"{split}/{city}/{city}_000000_{i:06d}"
            image = root / "leftImg8bit" / f"{prefix}_leftImg8bit.png"
            image.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(image), rng.integers(0, 256, (40, 80, 3), dtype=np.uint8))
            (root / "gtFine" / split / city).mkdir(parents=True, exist_ok=True)
            for kind in ("labelIds", "labelTrainIds", "color", "instanceIds"):
                label = f"gtFine/{prefix}_gtFine_{kind}.png"
                cv2.imwrite(str(root / label), rng.integers(0, 34, (40, 80), dtype=np.uint8))
                labels.append(label)
            polygons = f"gtFine/{prefix}_gtFine_polygons.json"
            (root / polygons).write_text(json.dumps({"imgHeight": 40, "imgWidth": 80, "objects": [i]}))
            labels.append(polygons)
    return root, labels


def _manifest(output: Path) -> tuple[list[dict], dict]:
    lines = [json.loads(line) for line in (output / "manifest.jsonl").read_text().splitlines()]
    assert lines[-1]["type"] == "summary"
    return lines[:-1], lines[-1]


def _part_keys(output: Path) -> list[str]:
    return [json.loads(line)["key"] for part in sorted((output / "manifest.parts").iterdir())
            for line in part.read_text().splitlines()]


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_gta5_mirror_labels_manifest_and_a_corrupt_image(tmp_path: Path, model: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    data = _gta5(tmp_path / "gta", 12, corrupt=(5,))
    out = tmp_path / "out"
    assert main(["synth", str(data), str(out), "--model", str(model), "--batch-size", "4", "--json", *CPU]) == 3
    summary = json.loads(capsys.readouterr().out)
    assert (summary["translated"], summary["failed"], summary["merge"]["complete"]) == (11, 1, True)
    assert summary["items_per_second"] > 0
    inputs = _files(data)
    produced = _files(out) - {"synth.json", "manifest.jsonl", "manifest.parts/part-0-of-1.jsonl"}
    assert produced == inputs - {"readme.txt", "images/00005.png", "labels/00005.png"}  # other files left alone
    for name in produced:
        if name.startswith("labels/"):
            assert (out / name).read_bytes() == (data / name).read_bytes()
        else:
            assert read_image(out / name).shape == (48, 64, 3)
            assert (out / name).read_bytes() != (data / name).read_bytes()
    records, total = _manifest(out)
    assert [r["key"] for r in records] == [f"images/{i:05d}.png" for i in range(12)]
    assert (total["items"], total["ok"], total["failed"], total["missing"]) == (12, 11, 1, 0)
    bad = records[5]
    assert bad["status"] == "failed" and "not a readable image" in bad["error"] and bad["output"] is None
    good = records[0]
    assert good["labels"] == ["labels/00000.png"] and good["size"] == [64, 48] and good["model"] == "tiny"
    assert good["backend"] == "torch" and good["precision"] == "fp32" and len(good["weights_sha256"]) == 64

    cv2.imwrite(str(data / "images" / "00005.png"), np.zeros((48, 64, 3), np.uint8))  # fixed: retried
    assert main(["synth", str(data), str(out), "--model", str(model), "--json", *CPU]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["translated"], summary["already_done"], summary["merge"]["ok"]) == (1, 11, 12)
    records, _ = _manifest(out)
    assert len(records) == 12 and all(r["status"] == "ok" for r in records)

    assert main(["synth", str(data), str(out), "--model", str(model), "--format", "jpg", *CPU]) == 1
    assert "other settings (format: 'auto' there, 'jpg' now; quality: None there, 95 now)" in capsys.readouterr().err
    assert main(["synth", str(data), str(data / "images" / "x"), "--model", str(model), *CPU]) == 2
    assert "inside INPUT" in capsys.readouterr().err


def test_cityscapes_all_label_files_hard_linked_and_jpeg_output(tmp_path: Path, model: Path) -> None:
    data, labels = _cityscapes(tmp_path / "cs")
    out = tmp_path / "out"
    assert main(["synth", str(data), str(out), "--model", str(model), "--format", "jpg", "--link-labels",
                 "--scale", "0.5", "--keep-size", *CPU]) == 0
    for label in labels:
        assert (out / label).read_bytes() == (data / label).read_bytes()
        assert os.path.samefile(out / label, data / label)
    images = sorted(p.relative_to(out).as_posix() for p in (out / "leftImg8bit").rglob("*"))
    assert [p for p in images if p.endswith(".jpg")] == sorted(
        p.relative_to(data).with_suffix(".jpg").as_posix() for p in (data / "leftImg8bit").rglob("*.png"))
    assert read_image(out / images[-1]).shape == (40, 80, 3)  # translated at 40x20, written at the source size
    records, total = _manifest(out)
    assert total["ok"] == 5 and all(len(r["labels"]) == 5 for r in records)


def test_killed_run_resumes_with_every_item_exactly_once(tmp_path: Path, model: Path) -> None:
    data = _gta5(tmp_path / "gta", 30, size=(128, 96))
    out = tmp_path / "out"
    arguments = ["synth", str(data), str(out), "--model", str(model), "--workers", "2", *CPU]
    part = out / "manifest.parts" / "part-0-of-1.jsonl"
    process = subprocess.Popen([sys.executable, "-m", "vidtrans", *arguments, "--batch-size", "1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if part.exists() and part.read_bytes().count(b"\n") >= 4:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()  # type: ignore[union-attr]
    killed_at = part.read_bytes().count(b"\n")
    assert 4 <= killed_at < 30 and not (out / "manifest.jsonl").exists()

    assert main(arguments) == 0  # the same command (the batch size is not part of the job)
    records, total = _manifest(out)
    assert [r["key"] for r in records] == [f"images/{i:05d}.png" for i in range(30)]
    assert total["ok"] == 30 and total["complete"]
    keys = _part_keys(out)
    assert len(keys) == len(set(keys)) == 30  # no item written twice
    assert not [name for name in _files(out) if _TEMPORARY.match(Path(name).name)]
    for record in records:
        assert read_image(out / record["output"]).shape == (96, 128, 3)


def test_two_shards_cover_every_item_once_and_merge_checks(tmp_path: Path, model: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    data = _gta5(tmp_path / "gta", 16)
    out = tmp_path / "out"
    assert main(["synth", str(data), str(out), "--model", str(model), "--shard", "0/2", *CPU]) == 0
    assert not (out / "manifest.jsonl").exists()
    assert main(["synth", "--merge", str(out), "--json"]) == 3
    report = json.loads(capsys.readouterr().out)
    assert not report["complete"] and report["missing_shards"] == ["1/2"] and 0 < report["missing"] < 16
    monkeypatch.setenv("RANK", "1")  # as torchrun sets them
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["synth", str(data), str(out), "--model", str(model), *CPU]) == 0
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    first = [json.loads(x)["key"] for x in (out / "manifest.parts" / "part-0-of-2.jsonl").read_text().splitlines()]
    second = [json.loads(x)["key"] for x in (out / "manifest.parts" / "part-1-of-2.jsonl").read_text().splitlines()]
    assert first and second and not set(first) & set(second)
    assert sorted(first + second) == [f"images/{i:05d}.png" for i in range(16)]
    assert main(["synth", "--merge", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["complete"] and report["ok"] == 16
    records, total = _manifest(out)
    assert len(records) == 16 and total["parts"] == ["part-0-of-2.jsonl", "part-1-of-2.jsonl"]


def test_video_frames_sampled_every_n_and_by_fps(tmp_path: Path, model: Path, make_clip: Callable[..., Path]) -> None:
    data = tmp_path / "drive"
    (data / "clips").mkdir(parents=True)
    make_clip("drive/clips/a.mp4", frames=25, rate=Fraction(25))
    make_clip("drive/b.mp4", frames=10, rotation=90)
    out = tmp_path / "out"
    assert main(["synth", str(data), str(out), "--model", str(model), "--every", "4", *CPU]) == 0
    expected = {f"clips/a/{i:06d}.png" for i in range(0, 25, 4)} | {f"b/{i:06d}.png" for i in range(0, 10, 4)}
    assert {n for n in _files(out) if n.endswith(".png")} == expected
    records, total = _manifest(out)
    assert total["ok"] == 10 and records[0]["key"] == "b.mp4#000000" and records[-1]["frame"] == 24
    assert read_image(out / "b" / "000004.png").shape == (64, 48, 3)  # written upright
    single = tmp_path / "single"
    assert main(["synth", str(data / "clips" / "a.mp4"), str(single), "--model", str(model), "--fps", "5",
                 "--format", "jpg", *CPU]) == 0
    assert {n for n in _files(single) if n.endswith(".jpg")} == {f"a/{i:06d}.jpg" for i in (0, 5, 10, 15, 20)}
