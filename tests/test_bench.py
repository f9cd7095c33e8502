"""Smoke tests for `vidtrans bench` on the CPU (no timing assertions: speed lives in docs/performance.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from vidtrans.bench import BenchOptions, bench
from vidtrans.cli import main
from vidtrans.errors import UsageError
from vidtrans.modeldir import ModelDirectory
from vidtrans.reference import random_model
from vidtrans.runtime import RuntimeOptions
from vidtrans.video import probe

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STAGES = ["decode", "upload", "preprocess", "model", "postprocess", "download", "encode", "end to end"]


def test_bench_cli_measures_every_stage_and_writes_json(tmp_path: Path, tiny_model: ModelDirectory,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "bench.json"
    code = main(["bench", "--model", str(tiny_model.path), "--device", "cpu", "--size", "64x48", "--frames", "6",
                 "--batch-size", "4", "--warmup", "1", "--json", str(report)])
    out = capsys.readouterr().out
    assert code == 0
    assert [line.split("  ")[0].strip() for line in out.splitlines()[2:]] == STAGES
    doc = json.loads(report.read_text())
    assert [s["stage"] for s in doc["stages"]] == STAGES
    assert all(s["frames"] > 0 and s["seconds"] > 0 for s in doc["stages"])
    assert doc["settings"]["size"] == [64, 48] and doc["settings"]["batch_size"] == 4
    assert doc["end_to_end"]["frames"] == 6 and doc["environment"]["torch"]


def test_bench_on_a_given_clip_with_a_random_reference_architecture(tmp_path: Path,
                                                                   make_clip: Callable[..., Path]) -> None:
    clip = make_clip("given.mkv", size=(40, 32), frames=5)
    model = random_model("resnet_6blocks", 4, tmp_path)
    assert model.info.generator.n_blocks == 6  # type: ignore[union-attr]
    report = bench(model, workdir=tmp_path, input=clip,
                   options=BenchOptions(runtime=RuntimeOptions(backend="torch", device="cpu"), batch_size=2, frames=3, warmup=0, end_to_end=False))
    assert [s.stage for s in report.stages] == STAGES[:-1]
    assert report.stages[0].frames == 3 and report.settings["size"] == [40, 32]
    assert "model" in report.table() and probe(tmp_path / "bench-encode.mp4").frames == 3


def test_bench_refuses_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--device", "cpu"]) == 2
    assert "either --model or --arch" in capsys.readouterr().err
    with pytest.raises(UsageError, match="--batch-size"):
        BenchOptions(batch_size=0)
    with pytest.raises(UsageError, match="--arch"):
        random_model("resnet_12blocks", 8, Path("unused"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bench_in_a_cuda_graph_compile_mode_keeps_no_overwritten_output(tmp_path: Path,
                                                                       tiny_model: ModelDirectory) -> None:
    """reduce-overhead replays CUDA graphs: the output bench keeps past the timed runs must be its own copy
    (reading an overwritten CUDA-graph output raises)."""
    runtime = RuntimeOptions(backend="torch", device="cuda", precision="fp16", compile=True,
                             compile_mode="reduce-overhead")
    report = bench(tiny_model, workdir=tmp_path, options=BenchOptions(runtime=runtime, size=(64, 48), batch_size=4,
                                                                      frames=8, warmup=2, end_to_end=False))
    assert all(s.frames > 0 and s.seconds > 0 for s in report.stages)
