"""The ONNX Runtime backend: the model's ONNX export run with IO binding on torch tensors.

Execution providers, most preferred first: TensorRT (only when asked for with `use_tensorrt`: onnxruntime-gpu
lists its TensorRT provider even where the TensorRT libraries are missing, and vidtrans has its own TensorRT
backend), CUDA, then the CPU for anything the others cannot run. On the CPU only the CPU provider is used.
Inputs and outputs are bound to torch tensors' memory on their device (`io_binding`), so on CUDA frames never
pass through host memory between the pipeline's stages. fp16 runs the fp16 export (fp32 inputs and outputs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidtrans.console import info
from vidtrans.devices import Precision
from vidtrans.errors import MissingExtraError, UsageError
from vidtrans.modeldir import ModelDirectory
from vidtrans.runtime import OrtOptions
from vidtrans.threads import model_threads

GPU_EXTRA_HINT = "install vidtrans[gpu] (pip install 'vidtrans[gpu]', which brings onnxruntime-gpu)"

Provider = tuple[str, dict[str, str]]


def choose_providers(available: list[str], *, device: torch.device, precision: Precision, options: OrtOptions,
                     tensorrt_cache_dir: Path) -> list[Provider]:
    """The providers and their options for `device`, most preferred first, or an error naming what is missing."""
    if device.type == "cpu":
        if precision != "fp32":
            raise UsageError("the onnxruntime backend runs fp32 on the CPU; use --precision fp32")
        return [("CPUExecutionProvider", {})]
    if device.type != "cuda":
        raise UsageError(f"the onnxruntime backend runs on cpu or cuda devices; got {device}")
    if "CUDAExecutionProvider" not in available:
        raise MissingExtraError(f"the installed onnxruntime cannot use CUDA (its providers: {', '.join(available)}): "
                                f"{GPU_EXTRA_HINT}")
    device_id = str(device.index or 0)
    providers: list[Provider] = []
    if options.use_tensorrt and "TensorrtExecutionProvider" in available:
        fp16 = options.tensorrt_fp16 if options.tensorrt_fp16 is not None else precision == "fp16"
        providers.append(("TensorrtExecutionProvider", {
            "device_id": device_id,
            "trt_fp16_enable": "1" if fp16 else "0",
            "trt_engine_cache_enable": "1",
            "trt_engine_cache_path": str(tensorrt_cache_dir),
            "trt_timing_cache_enable": "1",
            "trt_timing_cache_path": str(tensorrt_cache_dir),
        }))
    providers.append(("CUDAExecutionProvider", {
        "device_id": device_id,
        "cudnn_conv_algo_search": options.cudnn_conv_algo_search,
        "do_copy_in_default_stream": "1",
    }))
    providers.append(("CPUExecutionProvider", {}))
    return providers


class OnnxRuntimeBackend:
    """Runs a generator's ONNX export with ONNX Runtime; implements `vidtrans.backends.base.Backend`."""

    name = "onnxruntime"

    def __init__(self, session: Any, *, device: torch.device, precision: Precision, size_multiple: int,
                 out_channels: int) -> None:
        self.device = device
        self.precision = precision
        self.input_dtype = torch.float32  # the fp16 export keeps fp32 inputs and outputs
        self.size_multiple = size_multiple
        self.providers: list[str] = list(session.get_providers())
        self._session = session
        self._out_channels = out_channels
        self._input_name = session.get_inputs()[0].name
        self._output_name = session.get_outputs()[0].name
        self._device_type = "cuda" if device.type == "cuda" else "cpu"
        self._device_id = device.index or 0

    @classmethod
    def from_model(cls, model: ModelDirectory, *, device: torch.device, precision: Precision, inverse: bool = False,
                   options: OrtOptions | None = None) -> OnnxRuntimeBackend:
        """Export (or reuse) the model's ONNX graph for `precision` and open a session on `device`."""
        try:
            import onnxruntime as ort
        except ImportError as error:
            raise MissingExtraError(f"onnxruntime is not installed ({error}): pip install onnxruntime, or "
                                    f"{GPU_EXTRA_HINT}") from None
        from vidtrans.deploy.onnx_export import ensure_onnx
        from vidtrans.deploy.storage import artifact_dir

        options = options or OrtOptions()
        cache_dir = options.tensorrt_cache_dir or artifact_dir(model, "engines") / "onnxruntime"
        providers = choose_providers(ort.get_available_providers(), device=device, precision=precision,
                                     options=options, tensorrt_cache_dir=cache_dir)
        artifact = ensure_onnx(model, precision=precision, inverse=inverse)
        if providers[0][0] == "TensorrtExecutionProvider":
            cache_dir.mkdir(parents=True, exist_ok=True)
            info(f"onnxruntime: the TensorRT provider builds an engine for each new frame size on first use (this "
                 f"can take minutes); engines are cached in {cache_dir}")
        session_options = ort.SessionOptions()
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session_options.log_severity_level = 3
        if options.intra_op_threads or device.type == "cpu":
            session_options.intra_op_num_threads = options.intra_op_threads or model_threads()
        session = ort.InferenceSession(str(artifact.path), session_options,
                                       providers=[name for name, _ in providers],
                                       provider_options=[opts for _, opts in providers])
        if device.type == "cuda" and "CUDAExecutionProvider" not in session.get_providers():
            raise MissingExtraError(f"onnxruntime could not start its CUDA provider (providers in use: "
                                    f"{', '.join(session.get_providers())}); check the CUDA and cuDNN libraries "
                                    f"onnxruntime-gpu needs, or {GPU_EXTRA_HINT}")
        generator = model.info.generator
        return cls(session, device=device, precision=precision, size_multiple=generator.size_multiple,
                   out_channels=generator.out_channels)

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        """Translate (N, C, H, W) float32 in [-1, 1] on the backend's device; the output is a new tensor there."""
        if batch.device != self.device or batch.dtype != self.input_dtype or batch.dim() != 4:
            raise ValueError(f"expected an (N, C, H, W) {self.input_dtype} tensor on {self.device}; got "
                             f"{batch.dtype} {tuple(batch.shape)} on {batch.device}")
        batch = batch.contiguous()
        n, _, height, width = batch.shape
        output = torch.empty((n, self._out_channels, height, width), dtype=self.input_dtype, device=self.device)
        if self.device.type == "cuda":
            # ONNX Runtime runs on its own stream: the torch work that produced `batch` must be finished.
            torch.cuda.current_stream(self.device).synchronize()
        binding = self._session.io_binding()
        binding.bind_input(self._input_name, self._device_type, self._device_id, np.float32, list(batch.shape),
                           batch.data_ptr())
        binding.bind_output(self._output_name, self._device_type, self._device_id, np.float32, list(output.shape),
                            output.data_ptr())
        self._session.run_with_iobinding(binding)  # returns once the providers have finished the batch
        return output

    def close(self) -> None:
        """Release the session (and the GPU memory of its providers)."""
        self._session = None
