"""The TensorRT backend: cached engines run with `execute_async_v3` on the backend's own CUDA stream.

Engines come from the model's `engines/` cache (see `vidtrans.deploy.engine_cache`). The first batch of a
frame size no cached engine accepts builds one (announced, since it takes minutes) with a profile for that
size and batch, unless `build=False`, which makes it an error that says what to export. Input and output are
contiguous NCHW torch tensors on the GPU whose addresses are handed to TensorRT (`set_tensor_address`, which
needs 256-byte aligned addresses and says whether it accepted them), so frames never leave the device. All
work is queued on the backend's non-default stream, the one the translator uses: enqueueing on the default
stream would add device-wide synchronisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch

from vidtrans.backends.stream import DeviceStream
from vidtrans.devices import Precision
from vidtrans.errors import ModelError, UsageError
from vidtrans.deploy.engine_cache import BatchRange, ShapeProfile, discard_engine, profiles_for
from vidtrans.deploy.tensorrt_build import (
    DEFAULT_WORKSPACE_GIB,
    EngineArtifact,
    EngineTarget,
    import_tensorrt,
    require_gpu,
    workspace_bytes,
)
from vidtrans.modeldir import ModelDirectory

TENSOR_ALIGNMENT = 256
"""TensorRT's required alignment, in bytes, of every input and output address."""


def bind_tensor(context: Any, name: str, tensor: torch.Tensor, *, engine: object) -> None:
    """Hand `tensor`'s address to TensorRT as `name`, or raise a ModelError saying why it cannot be."""
    address = tensor.data_ptr()
    if address % TENSOR_ALIGNMENT:
        raise ModelError(f"{engine}: tensor {name!r} is at address {address:#x}, which is not "
                         f"{TENSOR_ALIGNMENT}-byte aligned as TensorRT requires (pass whole tensors, not views into them)")
    if not context.set_tensor_address(name, address):
        raise ModelError(f"{engine}: TensorRT refused the address of tensor {name!r} (see its messages above)")


@dataclass
class _LoadedEngine:
    """A deserialized engine with its execution context (one context, switched between profiles)."""

    artifact: EngineArtifact
    engine: Any
    context: Any
    input_name: str
    output_name: str
    input_dtype: torch.dtype
    output_dtype: torch.dtype
    profile: int = 0

    def execute(self, batch: torch.Tensor, profile: int, stream: DeviceStream) -> torch.Tensor:
        """Queue the engine on `batch` (already on `stream`'s device) and return the output tensor."""
        handle = stream.handle
        if not handle:
            raise ValueError("TensorRT needs a non-default CUDA stream to enqueue on")
        if profile != self.profile:
            if not self.context.set_optimization_profile_async(profile, handle):
                raise ModelError(f"{self.artifact.path}: TensorRT refused optimisation profile {profile}")
            self.profile = profile
        with stream.active():
            batch = batch.to(self.input_dtype).contiguous()
            if not self.context.set_input_shape(self.input_name, tuple(batch.shape)):
                raise ModelError(f"{self.artifact.path}: TensorRT refused input shape {tuple(batch.shape)}")
            output = torch.empty(tuple(self.context.get_tensor_shape(self.output_name)), dtype=self.output_dtype,
                                 device=batch.device)
        bind_tensor(self.context, self.input_name, batch, engine=self.artifact.path)
        bind_tensor(self.context, self.output_name, output, engine=self.artifact.path)
        if not self.context.execute_async_v3(handle):
            raise ModelError(f"{self.artifact.path}: TensorRT failed to enqueue the batch")
        return output


class TensorRTBackend:
    """Runs a generator's TensorRT engines; implements `vidtrans.backends.base.Backend`."""

    name = "tensorrt"
    memory_format = torch.contiguous_format

    def __init__(self, trt: ModuleType, target: EngineTarget, *, device: torch.device, batch: BatchRange | None,
                 workspace: int, build: bool) -> None:
        self.device = device
        self.precision: Precision = target.precision
        self.input_dtype = torch.float32  # every vidtrans export keeps fp32 inputs and outputs
        self.size_multiple = target.model.info.generator.size_multiple
        self.stream = DeviceStream(device)
        self._trt = trt
        self._target = target
        self._batch = batch
        self._workspace = workspace
        self._build = build
        self._logger = trt.Logger(trt.Logger.WARNING)  # must outlive the runtime and its engines
        self._runtime = trt.Runtime(self._logger)
        self._engines: list[_LoadedEngine] = []

    @classmethod
    def from_model(cls, model: ModelDirectory, *, device: torch.device, precision: Precision, inverse: bool = False,
                   batch: BatchRange | None = None, sizes: Sequence[tuple[int, int]] = (),
                   workspace_gib: float = DEFAULT_WORKSPACE_GIB, build: bool = True) -> TensorRTBackend:
        """A backend for `model` on the CUDA `device`.

        `sizes` ((width, height) pairs) loads or builds an engine for those resolutions up front, with the
        `batch` range (default 1:8:16); other sizes get an engine on first use. `build=False` never builds.
        """
        trt = import_tensorrt()
        require_gpu(device)
        if precision not in ("fp32", "fp16"):
            raise UsageError(f"precision must be fp32 or fp16; got {precision!r}")
        with torch.cuda.device(device):
            target = EngineTarget.resolve(trt, model, device=device, precision=precision, inverse=inverse)
            backend = cls(trt, target, device=device, batch=batch, workspace=workspace_bytes(workspace_gib),
                          build=build)
            if sizes:
                profiles = profiles_for(sizes, batch or BatchRange(1, 8, 16), multiple=backend.size_multiple)
                artifact = target.cached(profiles) or backend._build_or_refuse(profiles)
                backend._engines.append(backend._load(artifact))
        return backend

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        """Translate (N, C, H, W) float32 in [-1, 1] on the GPU; queued on `stream`, not waited for."""
        if batch.device != self.device or batch.dim() != 4:
            raise ValueError(f"expected an (N, C, H, W) tensor on {self.device}; got {tuple(batch.shape)} on "
                             f"{batch.device}")
        n, _, height, width = batch.shape
        with torch.cuda.device(self.device):
            loaded, profile = self._engine_for(n, height, width)
            return loaded.execute(batch, profile, self.stream)

    def close(self) -> None:
        """Drop the execution contexts and engines (their GPU memory is freed with them)."""
        self.stream.synchronize()
        for loaded in self._engines:
            loaded.context = None
            loaded.engine = None
        self._engines.clear()
        self._runtime = None

    def _engine_for(self, batch: int, height: int, width: int) -> tuple[_LoadedEngine, int]:
        for loaded in self._engines:
            profile = loaded.artifact.key.covers(batch, height, width)
            if profile is not None:
                return loaded, profile
        artifact = self._target.covering(batch, height, width)
        if artifact is None:
            wanted = self._batch or BatchRange(1, batch, batch)
            limits = BatchRange(min(wanted.min, batch), wanted.opt, max(wanted.max, batch))
            artifact = self._build_or_refuse((ShapeProfile(limits, height, width),))
        loaded = self._load(artifact)
        self._engines.append(loaded)
        return loaded, loaded.artifact.key.covers(batch, height, width) or 0

    def _build_or_refuse(self, profiles: Sequence[ShapeProfile]) -> EngineArtifact:
        if self._build:
            return self._target.build(self._trt, profiles, workspace=self._workspace)
        model = self._target.model
        first = profiles[0]
        raise ModelError(
            f"no TensorRT engine of {model.name} for {', '.join(p.describe() for p in profiles)}: "
            f"{self._target.why_missing()}; build one with `vidtrans export --model {model.path} --format tensorrt "
            f"--width {first.width} --height {first.height} --batch {first.batch}"
            f"{' --fp16' if self.precision == 'fp16' else ''}{' --inverse' if self._target.role != 'generator' else ''}`")

    def _load(self, artifact: EngineArtifact, *, retry: bool = True) -> _LoadedEngine:
        trt = self._trt
        engine = self._runtime.deserialize_cuda_engine(artifact.path.read_bytes())
        if engine is None:
            discard_engine(artifact.path)
            if not retry or not self._build:
                raise ModelError(f"{artifact.path}: TensorRT {trt.__version__} could not load this engine (it was "
                                 f"built for {artifact.key.describe_target()}); it was removed, rebuild it")
            return self._load(self._target.build(trt, artifact.key.profiles, workspace=self._workspace), retry=False)
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{artifact.path}: expected one input and one output, found {inputs} and {outputs}")
        dtypes = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16}
        input_dtype, output_dtype = (dtypes.get(engine.get_tensor_dtype(n)) for n in (inputs[0], outputs[0]))
        if input_dtype is None or output_dtype is None:
            raise ModelError(f"{artifact.path}: unsupported input/output types of the engine")
        context = engine.create_execution_context()
        if context is None:
            raise ModelError(f"{artifact.path}: TensorRT could not create an execution context (out of GPU memory?)")
        return _LoadedEngine(artifact, engine, context, inputs[0], outputs[0], input_dtype, output_dtype)
