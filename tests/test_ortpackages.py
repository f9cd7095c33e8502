"""ONNX Runtime as an either/or extra: what the user is told for each install, and vidtrans without it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from vidtrans.deploy.onnx_export import ensure_onnx
from vidtrans.images import write_image
from vidtrans.modeldir import ModelDirectory, ModelInfo, save_model
from vidtrans.networks import ResnetGeneratorConfig, build_generator, init_weights
from vidtrans.ortpackages import Package, build_info, cuda_major_mismatch, cuda_provider_fix, installed_packages

CPU_ONLY = ["AzureExecutionProvider", "CPUExecutionProvider"]


def test_the_fix_names_every_installed_package() -> None:
    missing = cuda_provider_fix([], [])
    assert missing == "ONNX Runtime is not installed: pip install onnxruntime-gpu (the vidtrans[gpu] extra)"
    cpu = cuda_provider_fix([Package("onnxruntime", "1.32.0")], CPU_ONLY)
    assert cpu == ("the installed ONNX Runtime is onnxruntime 1.32.0, which has no CUDA provider (providers: "
                   "AzureExecutionProvider, CPUExecutionProvider); fix: pip uninstall -y onnxruntime && "
                   "pip install onnxruntime-gpu")
    both = cuda_provider_fix([Package("onnxruntime", "1.32.0"), Package("onnxruntime-gpu", "1.30.0")], CPU_ONLY)
    assert both.startswith("onnxruntime 1.32.0 and onnxruntime-gpu 1.30.0 are all installed, but they share the one "
                           "`onnxruntime` folder")
    # uninstalling only onnxruntime would delete files onnxruntime-gpu needs: both go, then the GPU one comes back
    assert both.endswith("fix: pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu")
    gpu_only = cuda_provider_fix([Package("onnxruntime-gpu", "1.30.0")], CPU_ONLY)
    assert gpu_only.endswith("pip install --force-reinstall --no-deps onnxruntime-gpu")
    other = cuda_provider_fix([Package("onnxruntime-directml", "1.20.0")], ["DmlExecutionProvider"])
    assert "onnxruntime-directml 1.20.0" in other and other.endswith(
        "pip uninstall -y onnxruntime-directml && pip install onnxruntime-gpu")


def test_cuda_major_versions_must_agree() -> None:
    assert cuda_major_mismatch("12.8", "12.4") is None
    assert cuda_major_mismatch(None, "13.0") is None and cuda_major_mismatch("12.8", None) is None
    warning = cuda_major_mismatch("12.8", "13.0")
    assert warning is not None and warning.startswith("onnxruntime-gpu was built for CUDA 12.8 but torch for CUDA 13.0")
    assert "onnxruntime-gpu build for CUDA 13" in warning and "torch build for CUDA 12" in warning


def test_this_install_is_read_without_importing_it() -> None:
    info = build_info()
    installed = {package.name: package.version for package in installed_packages()}
    assert info["__version__"] == onnxruntime.__version__
    assert installed[info["package_name"]] == onnxruntime.__version__


# --- vidtrans without ONNX Runtime ----------------------------------------------------------------------

_WITHOUT_ORT = ("import sys; sys.modules['onnxruntime'] = None  # as if it were not installed\n"
                "from vidtrans.cli import main; sys.exit(main(sys.argv[1:]))")


def _vidtrans_without_onnxruntime(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _WITHOUT_ORT, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture
def model(tmp_path: Path) -> ModelDirectory:
    torch.manual_seed(0)
    config = ResnetGeneratorConfig(ngf=4, n_blocks=1)
    return save_model(tmp_path / "m", ModelInfo(name="m", generator=config), init_weights(build_generator(config)))


def test_export_and_eval_work_without_onnxruntime_and_convert_says_what_to_install(
        tmp_path: Path, model: ModelDirectory, make_clip: Callable[..., Path]) -> None:
    exported = _vidtrans_without_onnxruntime("export", "--model", str(model.path), "--format", "onnx", "--json",
                                             cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    artifact = json.loads(exported.stdout)["artifacts"][0]
    assert artifact["checks"] == [] and artifact["unverified"].startswith("ONNX Runtime is not installed")
    sidecar = json.loads(Path(artifact["path"]).with_suffix(".json").read_text())
    assert sidecar["verification"]["unverified"] == artifact["unverified"]
    assert sidecar["versions"]["onnxruntime"] is None

    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        write_image(tmp_path / folder / "0.png", np.full((16, 20, 3), 120, np.uint8))
    evaluated = _vidtrans_without_onnxruntime("eval", "--model", str(model.path), "--pairs", "a", "b", "--device",
                                              "cpu", "--quiet", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    assert (tmp_path / "vidtrans-eval" / "report.json").is_file()

    clip = make_clip("drive.mp4", size=(32, 24), frames=2)
    converted = _vidtrans_without_onnxruntime("convert", str(clip), "-o", str(tmp_path / "out.mp4"), "--model",
                                              str(model.path), "--backend", "onnxruntime", "--device", "cpu",
                                              cwd=tmp_path)
    assert converted.returncode == 1 and not (tmp_path / "out.mp4").exists()
    assert converted.stderr.strip().splitlines() == [
        "vidtrans: error: --backend onnxruntime needs ONNX Runtime, which is not installed (import of onnxruntime "
        "halted; None in sys.modules): pip install onnxruntime (CPU) or pip install onnxruntime-gpu (NVIDIA GPUs), "
        "not both (the vidtrans[cpu] and vidtrans[gpu] extras)"]

    verified = ensure_onnx(model)  # ONNX Runtime is importable here: the unverified export is redone and verified
    assert not verified.reused and verified.unverified is None and len(verified.checks) == 3
