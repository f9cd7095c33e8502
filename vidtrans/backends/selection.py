"""Choosing the backend, device and precision from a `RuntimeOptions` (`--backend`, `--device`, `--precision`,
`--compile`).

`--backend auto`, the default: on a CUDA GPU TensorRT when it imports, else torch (fp16; compiled only with
`--compile`, since compiling costs minutes per resolution up front); on the CPU ONNX Runtime when it is
installed (it runs the generators 1.4-1.5x faster than torch there, see docs/performance.md), else torch.
`--compile` with `auto` means torch. Callers print `BackendChoice.describe()` so the user sees what was chosen.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Literal

import torch

from vidtrans.devices import Precision, resolve_device, resolve_precision
from vidtrans.errors import MissingExtraError, UsageError
from vidtrans.runtime import RuntimeOptions

BackendName = Literal["torch", "onnxruntime", "tensorrt"]


@dataclass(frozen=True)
class BackendChoice:
    """The backend to create, on which device, at which precision, and whether torch compiles the model."""

    backend: BackendName
    device: torch.device
    precision: Precision
    compile: bool = False

    def describe(self) -> str:
        """`backend tensorrt on cuda:0 (NVIDIA H100 80GB HBM3), precision fp16` and the like."""
        where = str(self.device)
        if self.device.type == "cuda":
            where += f" ({torch.cuda.get_device_name(self.device)})"
        compiled = ", torch.compile" if self.compile else ""
        return f"backend {self.backend} on {where}, precision {self.precision}{compiled}"


def tensorrt_importable() -> bool:
    """Whether `import tensorrt` works (its native libraries included)."""
    try:
        import tensorrt  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def onnxruntime_importable() -> bool:
    """Whether an ONNX Runtime package is installed (found without importing it)."""
    return importlib.util.find_spec("onnxruntime") is not None


def auto_backend(*, device: torch.device, tensorrt_available: bool, onnxruntime_available: bool,
                 compile: bool) -> BackendName:
    """The `auto` rule (see the module docstring)."""
    if compile:
        return "torch"
    if device.type == "cuda":
        return "tensorrt" if tensorrt_available else "torch"
    return "onnxruntime" if onnxruntime_available else "torch"


def select_backend(options: RuntimeOptions) -> BackendChoice:
    """Resolve the user's options into a `BackendChoice`, refusing combinations that cannot run."""
    device = resolve_device(options.device)
    backend: BackendName
    if options.backend == "auto":
        backend = auto_backend(device=device, compile=options.compile,
                               tensorrt_available=device.type == "cuda" and tensorrt_importable(),
                               onnxruntime_available=onnxruntime_importable())
    else:
        backend = options.backend  # type: ignore[assignment]
    if backend == "tensorrt":
        if device.type != "cuda":
            raise UsageError(f"--backend tensorrt needs a CUDA GPU, but the device is {device} "
                             f"(GPUs visible to torch: {torch.cuda.device_count()})")
        if not tensorrt_importable():
            raise MissingExtraError("--backend tensorrt: TensorRT is not installed: install vidtrans[tensorrt] "
                                    "(pip install 'vidtrans[tensorrt]')")
    return BackendChoice(backend=backend, device=device, precision=resolve_precision(options.precision, device),
                         compile=options.compile and backend == "torch")
