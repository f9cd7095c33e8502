"""How a generator runs: one `RuntimeOptions` value for every command and API call that runs a model.

`convert`, `synth`, `bench`, `eval`, `demo` and `vidtrans.load` all take it, with the same defaults; the CLI
declares its options once, from these dataclasses (`vidtrans.cli_params`). This module imports no torch, so
the CLI can read the defaults without loading it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vidtrans.errors import UsageError

BACKEND_CHOICES: tuple[str, ...] = ("auto", "torch", "onnxruntime", "tensorrt")
PRECISION_CHOICES: tuple[str, ...] = ("auto", "fp32", "fp16")
COMPILE_MODES: tuple[str, ...] = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
CUDNN_SEARCH_CHOICES: tuple[str, ...] = ("EXHAUSTIVE", "HEURISTIC", "DEFAULT")
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def _check_choice(flag: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise UsageError(f"{flag} must be one of {', '.join(allowed)}; got {value!r}")


@dataclass(frozen=True)
class OrtOptions:
    """The ONNX Runtime execution-provider settings users may need to change."""

    cudnn_conv_algo_search: Literal["EXHAUSTIVE", "HEURISTIC", "DEFAULT"] = "EXHAUSTIVE"
    """How the CUDA provider picks convolution algorithms (EXHAUSTIVE is slowest to start, fastest to run)."""
    use_tensorrt: bool = False
    """Prefer ONNX Runtime's TensorRT provider when it is installed (engines built per input shape, cached)."""
    tensorrt_fp16: bool | None = None
    """TensorRT provider fp16 kernels; default: on for fp16 precision."""
    tensorrt_cache_dir: Path | None = None
    """Where the TensorRT provider caches engines; default: the model's `engines/onnxruntime` folder."""
    intra_op_threads: int = 0
    """CPU threads per operator; 0: vidtrans' choice, batches split over the usable cores (`vidtrans.threads`)."""

    def __post_init__(self) -> None:
        _check_choice("--ort-cudnn-search", self.cudnn_conv_algo_search, CUDNN_SEARCH_CHOICES)
        if isinstance(self.intra_op_threads, bool) or not isinstance(self.intra_op_threads, int) \
                or self.intra_op_threads < 0:
            raise UsageError(f"intra_op_threads must be an integer >= 0; got {self.intra_op_threads!r}")


@dataclass(frozen=True)
class RuntimeOptions:
    """The backend, device, precision, compilation and ONNX Runtime settings a generator runs with.

    `backend="auto"` picks the fastest installed path (see `vidtrans.backends.selection`); `device` is
    auto, cpu, cuda or cuda:N; `precision` auto (fp16 on CUDA, fp32 on the CPU), fp32 or fp16; `compile`
    applies torch.compile (torch backend only) in `compile_mode`; `inverse` runs the model's inverse
    generator (target -> source). Values are checked here (a `UsageError`, which is also a `ValueError`);
    whether the device exists is checked when a backend is created.
    """

    backend: Literal["auto", "torch", "onnxruntime", "tensorrt"] = "auto"
    device: str = "auto"
    precision: Literal["auto", "fp32", "fp16"] = "auto"
    compile: bool = False
    compile_mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = "max-autotune"
    ort: OrtOptions = OrtOptions()
    inverse: bool = False

    def __post_init__(self) -> None:
        _check_choice("--backend", self.backend, BACKEND_CHOICES)
        if not isinstance(self.device, str) or not _DEVICE.fullmatch(self.device.strip().lower()):
            raise UsageError(f"--device must be auto, cpu, cuda or cuda:N; got {self.device!r}")
        _check_choice("--precision", self.precision, PRECISION_CHOICES)
        _check_choice("--compile-mode", self.compile_mode, COMPILE_MODES)
        if self.compile and self.backend not in ("auto", "torch"):
            raise UsageError(f"--compile applies to the torch backend only, not to {self.backend}")
        if not isinstance(self.ort, OrtOptions):
            raise UsageError(f"ort must be an OrtOptions; got {type(self.ort).__name__}")
