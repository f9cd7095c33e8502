"""Building TensorRT engines from the ONNX export with the TensorRT Python API (TensorRT 10 and 11).

TensorRT 10 builds the fp32 graph and takes its precision from the builder (`BuilderFlag.FP16` for fp16).
TensorRT 11 only builds strongly typed networks: the precision comes from the graph, so fp16 engines are built
from the fp16 export (fp16 compute, fp32 inputs and outputs, instance norm in fp32). Each engine has one
optimisation profile per target resolution, a bounded workspace and a timing cache shared by the builds on
the same GPU model; it is cached in the model's `engines/` folder (see `engine_cache`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType

import torch

from vidtrans.console import format_duration, info, warn
from vidtrans.devices import Precision
from vidtrans.errors import MissingExtraError, ModelError, UsageError
from vidtrans.deploy.engine_cache import (
    EngineKey,
    ShapeProfile,
    discard_engine,
    find_covering_engine,
    incompatible_engines,
    lookup_engine,
    prune_obsolete,
    store_engine,
    timing_cache_path,
)
from vidtrans.deploy.onnx_export import OnnxArtifact, ensure_onnx
from vidtrans.deploy.storage import artifact_dir
from vidtrans.fsutil import atomic_write_bytes
from vidtrans.modeldir import ModelDirectory, WeightRole

MIN_TENSORRT_MAJOR = 10
DEFAULT_WORKSPACE_GIB = 4.0
INSTALL_HINT = "install vidtrans[tensorrt] (pip install 'vidtrans[tensorrt]')"


def import_tensorrt() -> ModuleType:
    """The `tensorrt` module, or a MissingExtraError that names the extra to install."""
    try:
        import tensorrt
    except ImportError as error:
        raise MissingExtraError(f"TensorRT is not installed ({error}): {INSTALL_HINT}") from None
    return tensorrt


def tensorrt_major(version: str) -> int:
    """The major version of a TensorRT version string (`10.7.0.23` -> 10)."""
    match = re.match(r"\s*(\d+)", version)
    if not match:
        raise ValueError(f"not a TensorRT version: {version!r}")
    return int(match.group(1))


@dataclass(frozen=True)
class BuildPlan:
    """How to build an engine of a precision with a TensorRT version."""

    onnx_precision: Precision
    """Which ONNX export to parse."""
    strongly_typed: bool
    """Whether the network is strongly typed (precision from the graph)."""
    fp16_flag: bool
    """Whether to set `BuilderFlag.FP16` (weakly typed TensorRT 10 only)."""


def plan_build(tensorrt_version: str, precision: Precision) -> BuildPlan:
    """TensorRT 10: the fp32 graph, weakly typed, precision by builder flag. TensorRT 11 and later: the graph of
    the wanted precision, strongly typed (the FP16 builder flag no longer exists)."""
    if precision not in ("fp32", "fp16"):
        raise ValueError(f"precision must be fp32 or fp16; got {precision!r}")
    major = tensorrt_major(tensorrt_version)
    if major < MIN_TENSORRT_MAJOR:
        raise MissingExtraError(f"TensorRT {tensorrt_version} is too old: vidtrans needs TensorRT "
                                f"{MIN_TENSORRT_MAJOR} or newer; {INSTALL_HINT}")
    if major == 10:
        return BuildPlan(onnx_precision="fp32", strongly_typed=False, fp16_flag=precision == "fp16")
    return BuildPlan(onnx_precision=precision, strongly_typed=True, fp16_flag=False)


def network_flags(trt: ModuleType, plan: BuildPlan) -> int:
    """The `create_network` flags: STRONGLY_TYPED when the plan wants it and this TensorRT still has the flag
    (TensorRT 11 accepts it and is strongly typed regardless)."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return 1 << int(flag) if plan.strongly_typed and flag is not None else 0


def workspace_bytes(gib: float) -> int:
    """The builder's workspace limit in bytes from GiB (at least 64 MiB)."""
    if not gib > 0:
        raise UsageError(f"--workspace must be a positive number of GiB; got {gib}")
    return max(int(gib * (1 << 30)), 64 << 20)


def require_gpu(device: torch.device) -> None:
    """Refuse a device that is not a present CUDA GPU, saying what torch sees."""
    if device.type != "cuda" or not torch.cuda.is_available():
        raise UsageError(f"TensorRT needs a CUDA GPU; device {device} is not one (torch CUDA build: "
                         f"{torch.version.cuda or 'no'}, GPUs visible: {torch.cuda.device_count()})")


def gpu_identity(device: torch.device) -> tuple[str, tuple[int, int]]:
    """The GPU's name and compute capability (engines are only valid on the model they were built for)."""
    require_gpu(device)
    major, minor = torch.cuda.get_device_capability(device)
    return torch.cuda.get_device_name(device), (int(major), int(minor))


def build_serialized_engine(trt: ModuleType, onnx_file: Path, *, plan: BuildPlan,
                            profiles: Sequence[ShapeProfile], workspace: int, timing_cache: Path | None) -> bytes:
    """Parse `onnx_file` and build a serialized engine with one optimisation profile per entry of `profiles`."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(network_flags(trt, plan))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_file)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)) or "no details"
        raise ModelError(f"{onnx_file}: TensorRT could not parse the ONNX graph ({errors})")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace)
    if plan.fp16_flag:
        config.set_flag(trt.BuilderFlag.FP16)
    source = network.get_input(0)
    channels = int(source.shape[1])
    for profile in profiles:
        shapes = [(batch, channels, profile.height, profile.width)
                  for batch in (profile.batch.min, profile.batch.opt, profile.batch.max)]
        optimisation = builder.create_optimization_profile()
        optimisation.set_shape(source.name, *shapes)
        config.add_optimization_profile(optimisation)
    if timing_cache is not None:
        _load_timing_cache(config, timing_cache)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelError(f"{onnx_file}: TensorRT could not build an engine (see its messages above); try a "
                         f"larger --workspace or fewer profiles")
    if timing_cache is not None:
        atomic_write_bytes(timing_cache, bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


def _load_timing_cache(config: object, path: Path) -> None:
    try:
        data = path.read_bytes() if path.is_file() else b""
        cache = config.create_timing_cache(data)  # type: ignore[attr-defined]
    except Exception as error:  # noqa: BLE001 - a bad cache only costs build time
        warn(f"{path}: unusable timing cache ({error}); starting a new one")
        cache = config.create_timing_cache(b"")  # type: ignore[attr-defined]
    config.set_timing_cache(cache, ignore_mismatch=False)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class EngineArtifact:
    """A TensorRT engine in the cache, with the key it was built for."""

    path: Path
    key: EngineKey
    onnx: OnnxArtifact
    built: bool
    seconds: float


@dataclass(frozen=True)
class EngineTarget:
    """What an engine for one generator will be built for on this machine, before profiles are chosen."""

    model: ModelDirectory
    role: WeightRole
    precision: Precision
    plan: BuildPlan
    onnx: OnnxArtifact
    key: EngineKey
    folder: Path

    @classmethod
    def resolve(cls, trt: ModuleType, model: ModelDirectory, *, device: torch.device, precision: Precision,
                inverse: bool = False) -> EngineTarget:
        """Find (or export) the ONNX graph the plan needs, and the key fields of this TensorRT and GPU."""
        gpu_name, capability = gpu_identity(device)
        plan = plan_build(trt.__version__, precision)
        onnx_artifact = ensure_onnx(model, precision=plan.onnx_precision, inverse=inverse)
        key = EngineKey(onnx_sha256=onnx_artifact.onnx_sha256, tensorrt_version=trt.__version__,
                        gpu_name=gpu_name, compute_capability=capability, precision=precision)
        role: WeightRole = "generator_inverse" if inverse else "generator"
        return cls(model=model, role=role, precision=precision, plan=plan, onnx=onnx_artifact, key=key,
                   folder=artifact_dir(model, "engines"))

    @property
    def weights_sha256(self) -> str:
        return self.model.sha256[self.role]

    def with_profiles(self, profiles: Sequence[ShapeProfile]) -> EngineKey:
        return replace(self.key, profiles=tuple(profiles))

    def cached(self, profiles: Sequence[ShapeProfile]) -> EngineArtifact | None:
        """The trusted cached engine with exactly these profiles, or None (a stale or corrupt one is removed)."""
        key = self.with_profiles(profiles)
        lookup = lookup_engine(self.folder, self.role, key, weights_sha256=self.weights_sha256)
        if lookup.status == "hit":
            return EngineArtifact(lookup.path, key, self.onnx, built=False, seconds=0.0)
        if lookup.status in ("stale", "corrupt"):
            warn(f"{lookup.path}: {lookup.reason}; not trusted, removed")
            discard_engine(lookup.path)
        return None

    def covering(self, batch: int, height: int, width: int) -> EngineArtifact | None:
        """A trusted cached engine (any profiles) that accepts this input shape, or None."""
        found = find_covering_engine(self.folder, self.role, self.key, weights_sha256=self.weights_sha256,
                                     batch=batch, height=height, width=width)
        if found is None:
            return None
        key, path = found
        return EngineArtifact(path, key, self.onnx, built=False, seconds=0.0)

    def why_missing(self) -> str:
        """Why no cached engine fits: cached engines built for another TensorRT or GPU, or simply none."""
        others = incompatible_engines(self.folder, self.role, self.key, weights_sha256=self.weights_sha256)
        if not others:
            return "no engine is cached for it yet"
        return (f"{'; '.join(others)}, and this machine has {self.key.describe_target()} (engines only run on "
                f"the TensorRT version and GPU model they were built for)")

    def build(self, trt: ModuleType, profiles: Sequence[ShapeProfile], *, workspace: int) -> EngineArtifact:
        """Build, store and return an engine with `profiles`, announcing it first (it takes minutes)."""
        key = self.with_profiles(profiles)
        shapes = ", ".join(p.describe() for p in profiles)
        info(f"building a TensorRT engine for {self.model.name} ({self.role}, {self.precision}, {shapes}) with "
             f"{key.describe_target()}: {self.why_missing()}. This takes a few minutes; the engine is cached in "
             f"{self.folder}")
        started = time.perf_counter()
        engine = build_serialized_engine(trt, self.onnx.path, plan=self.plan, profiles=profiles,
                                         workspace=workspace, timing_cache=timing_cache_path(self.folder, key))
        seconds = time.perf_counter() - started
        prune_obsolete(self.folder, self.role, weights_sha256=self.weights_sha256)
        path = store_engine(self.folder, self.role, key, engine, weights_sha256=self.weights_sha256,
                            build_seconds=seconds, workspace_bytes=workspace)
        info(f"built {path.name} in {format_duration(seconds)}")
        return EngineArtifact(path, key, self.onnx, built=True, seconds=seconds)


def ensure_engine(model: ModelDirectory, *, device: torch.device, precision: Precision,
                  profiles: Sequence[ShapeProfile], inverse: bool = False, workspace_gib: float = DEFAULT_WORKSPACE_GIB,
                  force: bool = False) -> EngineArtifact:
    """The cached engine for exactly these profiles, built when missing, stale or corrupt (or with `force`)."""
    trt = import_tensorrt()
    workspace = workspace_bytes(workspace_gib)
    require_gpu(device)
    with torch.cuda.device(device):
        target = EngineTarget.resolve(trt, model, device=device, precision=precision, inverse=inverse)
        cached = None if force else target.cached(profiles)
        return cached or target.build(trt, profiles, workspace=workspace)
