"""Choosing the backend, device and precision from `--backend`, `--device`, `--precision` and `--compile`.

`--backend auto`: TensorRT when it imports and the device is a CUDA GPU, else torch on CUDA (compiled), else
torch on the CPU. Callers print `BackendChoice.describe()` so the user sees what was chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from vidtrans.devices import Precision, resolve_device, resolve_precision
from vidtrans.errors import MissingExtraError, UsageError

BackendName = Literal["torch", "onnxruntime", "tensorrt"]
BACKEND_CHOICES: tuple[str, ...] = ("auto", "torch", "onnxruntime", "tensorrt")


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


def auto_backend(*, device: torch.device, tensorrt_available: bool) -> tuple[BackendName, bool]:
    """The `auto` rule as (backend, compile): TensorRT on a GPU when available, else torch (compiled on a GPU)."""
    if device.type == "cuda":
        return ("tensorrt", False) if tensorrt_available else ("torch", True)
    return "torch", False


def select_backend(requested: str, *, device_spec: str = "auto", precision_spec: str = "auto",
                   compile: bool = False) -> BackendChoice:
    """Resolve the user's options into a `BackendChoice`, refusing combinations that cannot run."""
    if requested not in BACKEND_CHOICES:
        raise UsageError(f"--backend must be one of {', '.join(BACKEND_CHOICES)}; got {requested!r}")
    device = resolve_device(device_spec)
    if requested == "auto":
        backend, auto_compile = auto_backend(device=device,
                                             tensorrt_available=device.type == "cuda" and tensorrt_importable())
        compile = compile or auto_compile
    else:
        backend = requested  # type: ignore[assignment]
        if compile and backend != "torch":
            raise UsageError(f"--compile applies to the torch backend only, not to {backend}")
    if backend == "tensorrt":
        if device.type != "cuda":
            raise UsageError(f"--backend tensorrt needs a CUDA GPU, but the device is {device} "
                             f"(GPUs visible to torch: {torch.cuda.device_count()})")
        if not tensorrt_importable():
            raise MissingExtraError("--backend tensorrt: TensorRT is not installed: install vidtrans[tensorrt] "
                                    "(pip install 'vidtrans[tensorrt]')")
    return BackendChoice(backend=backend, device=device, precision=resolve_precision(precision_spec, device),
                         compile=compile)
