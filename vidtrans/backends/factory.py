"""Choosing and building an inference backend for a model directory."""

from __future__ import annotations

from vidtrans.backends.base import Backend
from vidtrans.backends.onnxruntime_backend import OrtOptions
from vidtrans.backends.torch_backend import COMPILE_MODES, TorchBackend
from vidtrans.backends.selection import select_backend
from vidtrans.console import info
from vidtrans.errors import UsageError
from vidtrans.modeldir import ModelDirectory


def create_backend(model: ModelDirectory, *, backend: str = "torch", device: str = "auto",
                   precision: str = "auto", compile: bool = False, inverse: bool = False,
                   compile_mode: str = "max-autotune", ort_options: OrtOptions | None = None) -> Backend:
    """Load `model`'s generator (or its inverse) into the named backend on `device` at `precision`.

    `backend="auto"` picks one (see `selection.select_backend`) and prints the choice. `compile` and
    `compile_mode` apply to the torch backend (see `TorchBackend`), `ort_options` to the onnxruntime one.
    """
    if compile_mode not in COMPILE_MODES:
        raise UsageError(f"--compile-mode must be one of {', '.join(COMPILE_MODES)}; got {compile_mode!r}")
    choice = select_backend(backend, device_spec=device, precision_spec=precision, compile=compile)
    if backend == "auto":
        info(choice.describe())
    if choice.backend == "onnxruntime":
        from vidtrans.backends.onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend.from_model(model, device=choice.device, precision=choice.precision, inverse=inverse,
                                             options=ort_options)
    if choice.backend == "tensorrt":
        from vidtrans.backends.tensorrt_backend import TensorRTBackend

        return TensorRTBackend.from_model(model, device=choice.device, precision=choice.precision, inverse=inverse)
    module = model.load_generator(inverse=inverse, device="cpu")
    return TorchBackend(module, device=choice.device, precision=choice.precision,
                        size_multiple=model.info.generator.size_multiple, compile=choice.compile,
                        compile_mode=compile_mode)
