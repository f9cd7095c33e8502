"""The ONNX Runtime backend: the model's ONNX export run with IO binding on torch tensors.

Execution providers, most preferred first: TensorRT (only when asked for with `use_tensorrt`: onnxruntime-gpu
lists its TensorRT provider even where the TensorRT libraries are missing, and vidtrans has its own TensorRT
backend), CUDA, then the CPU for anything the others cannot run. On the CPU only the CPU provider is used.
Inputs and outputs are bound to torch tensors' memory on their device (`io_binding`), so on CUDA frames never
pass through host memory between the pipeline's stages. fp16 runs the fp16 export (fp32 inputs and outputs).

On CUDA the providers run on the backend's own stream (the provider option `user_compute_stream`), the one
the translator queues everything else on, so `run` needs no host-side synchronisation before it, and with
the run option `disable_synchronize_execution_providers` it returns once the graph is queued, leaving the
stream busy: two batches are truly in flight. The graph takes contiguous NCHW (`memory_format`).

On the CPU a batch is split into `vidtrans.threads.cpu_lanes()` parts (the usable cores), run at once, each by
a single-threaded session, with thread spinning off; a single frame runs on one session with that many
threads. That loses the least when another process takes a core, and is as fast on a quiet machine (see
`vidtrans.threads`). An explicit `OrtOptions.intra_op_threads` runs every batch on one session instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidtrans.backends.stream import DeviceStream
from vidtrans.console import info, warn
from vidtrans.devices import Precision
from vidtrans.errors import MissingExtraError, UsageError
from vidtrans.modeldir import ModelDirectory
from vidtrans.ortpackages import (
    Package,
    build_info,
    cuda_major_mismatch,
    cuda_provider_fix,
    import_onnxruntime,
    installed_packages,
)
from vidtrans.runtime import OrtOptions
from vidtrans.threads import cpu_lanes

NO_SYNC_RUN_OPTION = "disable_synchronize_execution_providers"
"""Run option: do not synchronise the providers' streams with the host at the end of a run."""

Provider = tuple[str, dict[str, str]]


def choose_providers(available: list[str], *, device: torch.device, precision: Precision, options: OrtOptions,
                     tensorrt_cache_dir: Path, stream_handle: int | None = None,
                     packages: Sequence[Package] = ()) -> list[Provider]:
    """The providers and their options for `device`, most preferred first, or an error naming what is missing.

    On CUDA the providers run on the stream `stream_handle` (a `cudaStream_t` as an integer, never 0, the
    default stream). `packages` are the installed ONNX Runtime packages, named in the error when the CUDA
    provider is missing.
    """
    if device.type == "cpu":
        if precision != "fp32":
            raise UsageError("the onnxruntime backend runs fp32 on the CPU; use --precision fp32")
        return [("CPUExecutionProvider", {})]
    if device.type != "cuda":
        raise UsageError(f"the onnxruntime backend runs on cpu or cuda devices; got {device}")
    if "CUDAExecutionProvider" not in available:
        raise MissingExtraError(f"--backend onnxruntime on CUDA: {cuda_provider_fix(packages, available)}")
    if not stream_handle:
        raise ValueError("the onnxruntime backend on CUDA needs a non-default stream to run on")
    device_id = str(device.index or 0)
    stream = {"user_compute_stream": str(stream_handle)}
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
            "has_user_compute_stream": "1",
            **stream,
        }))
    providers.append(("CUDAExecutionProvider", {
        "device_id": device_id,
        "cudnn_conv_algo_search": options.cudnn_conv_algo_search,
        "do_copy_in_default_stream": "1",
        **stream,
    }))
    providers.append(("CPUExecutionProvider", {}))
    return providers


class OnnxRuntimeBackend:
    """Runs a generator's ONNX export with ONNX Runtime; implements `vidtrans.backends.base.Backend`."""

    name = "onnxruntime"

    memory_format = torch.contiguous_format

    def __init__(self, session: Any, *, device: torch.device, precision: Precision, size_multiple: int,
                 out_channels: int, stream: DeviceStream, run_options: Any = None, lane_session: Any = None,
                 lanes: int = 1) -> None:
        self.device = device
        self.precision = precision
        self.input_dtype = torch.float32  # the fp16 export keeps fp32 inputs and outputs
        self.size_multiple = size_multiple
        self.stream = stream
        self.providers: list[str] = list(session.get_providers())
        self._session = session
        self._run_options = run_options
        self._out_channels = out_channels
        self._input_name = session.get_inputs()[0].name
        self._output_name = session.get_outputs()[0].name
        self._device_type = "cuda" if device.type == "cuda" else "cpu"
        self._device_id = device.index or 0
        self._lane_session = lane_session
        self._lane_count = lanes
        self._lanes = ThreadPoolExecutor(lanes, thread_name_prefix="vidtrans-ort") if lane_session else None

    @classmethod
    def from_model(cls, model: ModelDirectory, *, device: torch.device, precision: Precision, inverse: bool = False,
                   options: OrtOptions | None = None) -> OnnxRuntimeBackend:
        """Export (or reuse) the model's ONNX graph for `precision` and open a session on `device`."""
        ort = import_onnxruntime("--backend onnxruntime")
        from vidtrans.deploy.onnx_export import ensure_onnx
        from vidtrans.deploy.storage import artifact_dir

        options = options or OrtOptions()
        cache_dir = options.tensorrt_cache_dir or artifact_dir(model, "engines") / "onnxruntime"
        stream = DeviceStream(device)
        providers = choose_providers(ort.get_available_providers(), device=device, precision=precision,
                                     options=options, tensorrt_cache_dir=cache_dir, stream_handle=stream.handle,
                                     packages=installed_packages())
        mismatch = cuda_major_mismatch(build_info().get("cuda_version"), torch.version.cuda)
        if device.type == "cuda" and mismatch:
            warn(mismatch)
        artifact = ensure_onnx(model, precision=precision, inverse=inverse)
        if providers[0][0] == "TensorrtExecutionProvider":
            cache_dir.mkdir(parents=True, exist_ok=True)
            info(f"onnxruntime: the TensorRT provider builds an engine for each new frame size on first use (this "
                 f"can take minutes); engines are cached in {cache_dir}")
        lanes = cpu_lanes() if device.type == "cpu" and not options.intra_op_threads else 1

        def open_session(threads: int) -> Any:
            session_options = ort.SessionOptions()
            session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            session_options.log_severity_level = 3
            if threads:
                session_options.intra_op_num_threads = threads
            if device.type == "cpu":  # spinning threads stall each other when the machine is shared
                session_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            return ort.InferenceSession(str(artifact.path), session_options, providers=[name for name, _ in providers],
                                        provider_options=[opts for _, opts in providers])

        session = open_session(options.intra_op_threads or (lanes if device.type == "cpu" else 0))
        if device.type == "cuda" and "CUDAExecutionProvider" not in session.get_providers():
            raise MissingExtraError(f"onnxruntime could not start its CUDA provider (providers in use: "
                                    f"{', '.join(session.get_providers())}): check the CUDA and cuDNN libraries "
                                    f"onnxruntime-gpu needs{'; ' + mismatch if mismatch else ''}")
        run_options = None
        if device.type == "cuda":
            run_options = ort.RunOptions()
            run_options.add_run_config_entry(NO_SYNC_RUN_OPTION, "1")
        generator = model.info.generator
        return cls(session, device=device, precision=precision, size_multiple=generator.size_multiple,
                   out_channels=generator.out_channels, stream=stream, run_options=run_options,
                   lane_session=open_session(1) if lanes > 1 else None, lanes=lanes)

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        """Translate (N, C, H, W) float32 in [-1, 1] on the backend's device; the output is a new tensor there.

        On CUDA this returns once the batch is queued on `stream`; the output is valid once the stream gets
        there. Input that is not contiguous NCHW is copied first.
        """
        if batch.device != self.device or batch.dtype != self.input_dtype or batch.dim() != 4:
            raise ValueError(f"expected an (N, C, H, W) {self.input_dtype} tensor on {self.device}; got "
                             f"{batch.dtype} {tuple(batch.shape)} on {batch.device}")
        with self.stream.active():
            batch = batch.contiguous()
            n, _, height, width = batch.shape
            output = torch.empty((n, self._out_channels, height, width), dtype=self.input_dtype, device=self.device)
        if self._lanes is not None and n > 1:  # parts of the batch at once, one single-threaded run each
            parts = zip(batch.tensor_split(self._lane_count), output.tensor_split(self._lane_count))
            list(self._lanes.map(lambda part: self._run_bound(self._lane_session, *part), parts))
        else:
            self._run_bound(self._session, batch, output)
        return output

    def _run_bound(self, session: Any, batch: torch.Tensor, output: torch.Tensor) -> None:
        """Run `session` on `batch` into `output`, both bound by address (contiguous, on the backend's device)."""
        if not len(batch):
            return
        binding = session.io_binding()
        binding.bind_input(self._input_name, self._device_type, self._device_id, np.float32, list(batch.shape),
                           batch.data_ptr())
        binding.bind_output(self._output_name, self._device_type, self._device_id, np.float32, list(output.shape),
                            output.data_ptr())
        session.run_with_iobinding(binding, self._run_options)

    def close(self) -> None:
        """Release the sessions (and the GPU memory of their providers) and the CPU lanes."""
        self._session = self._lane_session = None
        if self._lanes is not None:
            self._lanes.shutdown()
            self._lanes = None
