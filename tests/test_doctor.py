"""`vidtrans doctor` on this machine: real output, checked against what the libraries report themselves."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import av
import onnxruntime
import pytest
import torch

from vidtrans.backends.selection import select_backend
from vidtrans.cli import main
from vidtrans.ortpackages import INSTALL_HINT
from vidtrans.runtime import RuntimeOptions
from vidtrans.video import EncodeOptions

NAMES = ["python", "torch", "onnxruntime", "tensorrt", "pyav", "backend", "encoder", "cpu path"]


def _doctor_without(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`vidtrans doctor` in a fresh process where `module` cannot be imported, as if it were not installed."""
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            "from vidtrans.cli import main; sys.exit(main(['doctor', *sys.argv[1:]]))")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_doctor_prints_one_line_per_part_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor"]) == 0
    lines = capsys.readouterr().out.splitlines()
    checks = {line[:12].strip(): line for line in lines[:len(NAMES)]}
    status = {name: line[13:21].strip() for name, line in checks.items()}
    assert list(checks) == NAMES and set(status.values()) <= {"ok", "warning", "missing", "error"}
    assert f"Python {platform.python_version()} ({sys.executable})" in checks["python"]
    assert f"torch {torch.__version__}" in checks["torch"]
    assert f"onnxruntime {onnxruntime.__version__}, providers: {', '.join(onnxruntime.get_available_providers())}" \
        in checks["onnxruntime"]
    assert f"PyAV {av.__version__}, libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}" \
        in checks["pyav"]
    assert checks["backend"].endswith(f"--backend auto picks {select_backend(RuntimeOptions()).describe()}")
    assert checks["encoder"].endswith(f"--encoder auto picks {EncodeOptions().describe('.mp4')} for .mp4")
    assert status["cpu path"] == "ok"
    fixes = lines[len(NAMES):]
    if fixes:  # whatever is not "ok" says what to install
        assert fixes[0] == "to enable what is missing:"
        assert {fix.split(":")[0].strip() for fix in fixes[1:]} == {n for n, s in status.items() if s != "ok"}


def test_doctor_json_carries_the_facts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and [c["name"] for c in doc["checks"]] == NAMES
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["torch"]["details"]["torch"] == torch.__version__
    assert checks["torch"]["details"]["cuda"] == torch.version.cuda
    assert len(checks["torch"]["details"]["gpus"]) == (torch.cuda.device_count() if torch.version.cuda else 0)
    assert checks["onnxruntime"]["details"]["providers"] == onnxruntime.get_available_providers()
    assert checks["pyav"]["details"]["pyav"] == av.__version__
    assert set(checks["pyav"]["details"]["nvenc"]) <= {"h264_nvenc", "hevc_nvenc", "av1_nvenc"}
    assert checks["backend"]["details"]["backend"] == select_backend(RuntimeOptions()).backend
    assert all("\n" not in c["summary"] for c in doc["checks"])


def test_doctor_without_onnxruntime_says_what_to_install_and_still_passes() -> None:
    done = _doctor_without("onnxruntime")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[2].startswith("onnxruntime  missing  not importable (import of onnxruntime halted")
    assert f"  onnxruntime: optional (--backend onnxruntime, export verification): {INSTALL_HINT}" in lines


def test_doctor_without_pyav_fails_the_cpu_path() -> None:
    done = _doctor_without("av", "--json")
    assert done.returncode == 1
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    assert checks["pyav"]["status"] == "missing" and checks["pyav"]["fix"] == "pip install av"
    assert checks["cpu path"]["status"] == "error" and checks["python"]["status"] == "ok"
    assert done.stderr.strip() == "vidtrans: error: the CPU path does not work (see the `cpu path` line)"


def test_doctor_warns_when_onnxruntime_gpu_and_torch_differ_in_cuda_major(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import vidtrans.ortpackages as ortpackages

    monkeypatch.setattr(ortpackages, "build_info", lambda: {"package_name": "onnxruntime-gpu",
                                                            "__version__": onnxruntime.__version__,
                                                            "cuda_version": "12.8"})
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["doctor", "--json"]) == 0
    check = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}["onnxruntime"]
    assert check["status"] == "warning" and check["details"]["cuda"] == "12.8"
    assert check["fix"].startswith("onnxruntime-gpu was built for CUDA 12.8 but torch for CUDA 13.0")
