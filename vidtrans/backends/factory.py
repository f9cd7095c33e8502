"""Choosing and building an inference backend for a model directory."""

from __future__ import annotations

from vidtrans.backends.base import Backend
from vidtrans.backends.selection import BackendChoice, select_backend
from vidtrans.backends.torch_backend import TorchBackend
from vidtrans.console import info
from vidtrans.modeldir import ModelDirectory
from vidtrans.runtime import RuntimeOptions


def create_backend(model: ModelDirectory, options: RuntimeOptions | None = None, *,
                   choice: BackendChoice | None = None, announce: bool = True) -> Backend:
    """Load `model`'s generator (or its inverse, `options.inverse`) into the backend `options` ask for.

    `backend="auto"` picks one (see `selection.select_backend`) and, with `announce`, prints the choice; pass
    `choice` when the caller has already resolved it.
    """
    options = options or RuntimeOptions()
    if choice is None:
        choice = select_backend(options)
        if options.backend == "auto" and announce:
            info(choice.describe())
    if choice.backend == "onnxruntime":
        from vidtrans.backends.onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend.from_model(model, device=choice.device, precision=choice.precision,
                                             inverse=options.inverse, options=options.ort)
    if choice.backend == "tensorrt":
        from vidtrans.backends.tensorrt_backend import TensorRTBackend

        return TensorRTBackend.from_model(model, device=choice.device, precision=choice.precision,
                                          inverse=options.inverse)
    module = model.load_generator(inverse=options.inverse, device="cpu")
    return TorchBackend(module, device=choice.device, precision=choice.precision,
                        size_multiple=model.info.generator.size_multiple, compile=choice.compile,
                        compile_mode=options.compile_mode)
