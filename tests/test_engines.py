"""Choosing the engine: `--engine` options, planning Ray's workers against a cluster, the missing extra."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from vidtrans.cli import main
from vidtrans.engines import RayOptions, ray_options
from vidtrans.errors import InputError, UsageError
from vidtrans.runtime import RuntimeOptions
from vidtrans.scale.cluster import Cluster, check_address, plan_workers
from vidtrans.scale.synth import chunk_items
from vidtrans.synthesis.layout import Item

GPUS = Cluster(address="10.0.0.1:6379", started=False, startup_s=0.0, cpus=64, gpus=8, nodes=2, node_cpus=32)
CPUS = Cluster(address="10.0.0.1:6379", started=False, startup_s=0.0, cpus=32, gpus=0, nodes=4, node_cpus=8)


def test_engine_options_are_checked() -> None:
    assert ray_options("local") is None
    assert ray_options("ray", address="ray://head:10001") == RayOptions(address="ray://head:10001")
    with pytest.raises(UsageError, match="--engine must be one of local, ray; got 'spark'"):
        ray_options("spark")
    with pytest.raises(UsageError, match="--ray-address and --gpus-per-worker: only with --engine ray"):
        ray_options("local", address="head:6379", gpus_per_worker=1)
    for bad in ({"workers": 0}, {"gpus_per_worker": -1}, {"address": " "}, {"workers": True}):
        with pytest.raises(UsageError):
            RayOptions(**bad)  # type: ignore[arg-type]


def test_an_address_where_no_ray_listens_is_refused_at_once() -> None:
    with socket.socket() as listening:  # a port that is open ...
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        check_address(f"127.0.0.1:{listening.getsockname()[1]}")
        check_address(f"ray://127.0.0.1:{listening.getsockname()[1]}")
        port = listening.getsockname()[1]
    with pytest.raises(InputError, match=rf"cannot reach the Ray cluster at 127.0.0.1:{port} \(Connection refused\)"):
        check_address(f"127.0.0.1:{port}")  # ... and closed again
    with pytest.raises(UsageError, match="expected HOST:PORT, ray://HOST:PORT or auto"):
        check_address("head-node")
    check_address("auto")  # left to Ray


def test_workers_are_planned_from_the_clusters_gpus() -> None:
    auto = RuntimeOptions()
    plan = plan_workers(GPUS, RayOptions(), auto)
    assert (plan.workers, plan.gpus, plan.cpus, plan.runtime.device) == (8, 1.0, 1.0, "cuda")
    assert plan_workers(GPUS, RayOptions(gpus_per_worker=0.5), auto).workers == 16  # two actors per GPU
    assert plan_workers(GPUS, RayOptions(workers=3), auto).workers == 3
    cpu = plan_workers(GPUS, RayOptions(), RuntimeOptions(device="cpu"))
    assert (cpu.workers, cpu.gpus, cpu.cpus, cpu.runtime.device) == (2, 0.0, 31.0, "cpu")  # one per node, a CPU left
    plan = plan_workers(CPUS, RayOptions(), auto)
    assert (plan.workers, plan.cpus, plan.runtime.device) == (4, 7.0, "cpu")
    with pytest.raises(UsageError, match="has not that many GPUs"):
        plan_workers(CPUS, RayOptions(gpus_per_worker=1), auto)
    with pytest.raises(UsageError, match="--device cuda:1: on Ray each worker gets its GPUs from Ray"):
        plan_workers(GPUS, RayOptions(), RuntimeOptions(device="cuda:1"))
    with pytest.raises(UsageError, match="--device cpu contradicts --gpus-per-worker 1"):
        plan_workers(GPUS, RayOptions(gpus_per_worker=1), RuntimeOptions(device="cpu"))
    with pytest.raises(UsageError, match="--device cuda on Ray needs --gpus-per-worker above 0"):
        plan_workers(CPUS, RayOptions(), RuntimeOptions(device="cuda"))


def test_without_the_ray_extra_engine_ray_says_how_to_install_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where Ray is not installed
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "clip.mp4").write_bytes(b"")
    for command in (["synth", str(tmp_path / "in"), str(tmp_path / "out")], ["convert", str(tmp_path / "in")]):
        assert main([*command, "--model", "demo", "--engine", "ray"]) == 1
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and "pip install 'vidtrans[ray]'" in error, error
    assert not (tmp_path / "out").exists()
    assert main(["synth", str(tmp_path / "in"), str(tmp_path / "out"), "--model", "demo",
                 "--gpus-per-worker", "1"]) == 2
    assert "--gpus-per-worker: only with --engine ray" in capsys.readouterr().err


def test_decode_tasks_get_whole_videos_and_runs_of_images() -> None:
    def image(name: str) -> Item:
        return Item(key=name, source=name, output=name)

    def frame(video: str, index: int) -> Item:
        return Item(key=f"{video}#{index:06d}", source=video, output=f"{video}/{index:06d}.png", frame=index)

    todo = [image(f"a{i:02d}.png") for i in range(10)] + [frame("b.mp4", i) for i in range(0, 300, 10)] \
        + [frame("c.mp4", 0), image("d.png")]
    chunks = chunk_items(todo, batch_size=2)
    assert [len(chunk) for chunk in chunks] == [8, 2, 30, 1, 1]  # runs of 4 batches; each video in one piece
    assert [item for chunk in chunks for item in chunk] == todo
