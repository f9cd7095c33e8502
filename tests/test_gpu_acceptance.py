"""`benchmarks/gpu_acceptance.py` on a machine without CUDA: its dry run, and its parts' plumbing on the CPU."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vidtrans.runtime import RuntimeOptions
from vidtrans.translator import Translator

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "gpu_acceptance.py"
NEEDS_CUDA = ["eager-fp32-b1", "eager-fp16", "compiled-fp16", "onnxruntime-fp16", "tensorrt-fp16", "convert-1080p",
              "train-amp"]

spec = importlib.util.spec_from_file_location("gpu_acceptance", SCRIPT)
acceptance = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
sys.modules["gpu_acceptance"] = acceptance  # dataclasses look their module up by name
spec.loader.exec_module(acceptance)  # type: ignore[union-attr]


@pytest.mark.skipif(acceptance.cuda_present(), reason="checks the dry run on a machine without CUDA")
def test_dry_run_runs_what_needs_no_cuda_and_lists_the_rest(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--out", str(tmp_path), "--clip-frames", "4"],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "acceptance.json").read_text())
    rows = {row["name"]: row for row in doc["parts"]}
    assert list(rows) == [part.name for part in acceptance.PARTS] and doc["dry_run"] is True
    assert all(rows[name]["status"] == "not run" and rows[name]["reason"] == "dry run: needs CUDA"
               for name in NEEDS_CUDA)
    assert [c["name"] for c in doc["environment"]["checks"]][:2] == ["python", "torch"]
    clip = rows["clip-1080p"]["metrics"]
    assert (clip["frames"], clip["size"], clip["codec"], clip["audio"]) == (4, "1920x1080", "h264", "aac")
    tests = rows["gpu-tests"]["metrics"]["tests"]
    assert "tests/test_translator.py::test_two_batches_are_truly_in_flight_on_the_translators_own_stream[torch]" \
        in tests and rows["gpu-tests"]["metrics"]["collected"] == len(tests)
    report = (tmp_path / "acceptance.md").read_text().splitlines()
    assert report[0].startswith("# GPU acceptance, ") and report[0].endswith("(dry run)")
    assert any(line.startswith("- cpu path: ok, ") for line in report)
    assert "| compiled-fp16: 1024x512 torch.compile fp16, batch 8 | not run | frames_per_s >= 386 | - | 0 | " \
           "dry run: needs CUDA |" in report


def _args(tmp_path: Path, **overrides: object) -> argparse.Namespace:
    values = dict(work=tmp_path, device="cpu", ngf=4, seconds=0.05, compile_mode="default", clip_frames=4,
                  dry_run=False)
    return argparse.Namespace(**{**values, **overrides})


def test_a_part_that_cannot_run_says_why(tmp_path: Path) -> None:
    parts = {part.name: part for part in acceptance.PARTS}
    no_tensorrt = acceptance.run_part_here(parts["tensorrt-fp16"], _args(tmp_path))
    assert no_tensorrt["status"] in ("skipped", "failed") and no_tensorrt["reason"]
    if importlib.util.find_spec("tensorrt") is None:
        assert no_tensorrt["status"] == "skipped" and "TensorRT is not installed" in no_tensorrt["reason"]

    def needs_a_missing_module(args: argparse.Namespace) -> dict:
        import vidtrans_no_such_module  # noqa: F401
        return {}

    def breaks(args: argparse.Namespace) -> dict:
        raise RuntimeError("first line\nsecond line")

    missing = acceptance.run_part_here(acceptance.Part("x", "x", False, 1, needs_a_missing_module), _args(tmp_path))
    assert (missing["status"], missing["reason"]) == (
        "skipped", "vidtrans_no_such_module is not installed: pip install vidtrans_no_such_module")
    broken = acceptance.run_part_here(acceptance.Part("y", "y", False, 1, breaks), _args(tmp_path))
    assert (broken["status"], broken["reason"]) == ("failed", "RuntimeError: first line")
    assert "second line" in broken["detail"]


def test_model_only_rate_and_goals(tmp_path: Path) -> None:
    args = _args(tmp_path)
    model = acceptance._model(args)
    stamp = (model.path / "model.json").stat().st_mtime_ns
    again = acceptance._model(args)  # shared by the parts: made once, then opened
    assert again.sha256 == model.sha256 and (again.path / "model.json").stat().st_mtime_ns == stamp
    translator = Translator.from_model(model, RuntimeOptions(backend="torch", device="cpu"))
    measured = acceptance._model_fps(translator, batch=2, size=(32, 16), min_seconds=0.05)
    assert measured["frames_per_s"] > 0 and measured["timed_frames"] % 2 == 0 and measured["size"] == "32x16"
    part = acceptance.Part("compiled-fp16", "c", True, 1, acceptance.compiled_fp16, ("frames_per_s", 386))
    assert acceptance.judge(part, {"status": "ok", "metrics": {"frames_per_s": 400.0}}) == "met"
    assert acceptance.judge(part, {"status": "ok", "metrics": {"frames_per_s": 300.0}}) == "missed"
    assert acceptance.judge(part, {"status": "skipped"}) == "-"
