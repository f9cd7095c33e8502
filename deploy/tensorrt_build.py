"""Building TensorRT engines from the ONNX export with the TensorRT Python API (TensorRT 10 and 11).

TensorRT 10 and 11 build the same way: a strongly typed network (`NetworkDefinitionCreationFlag.STRONGLY_TYPED`)
parsed from the export of the wanted precision, so the precision comes from the graph: fp16 engines are built
from the fp16 export (fp16 compute, fp32 inputs and outputs, instance norm in fp32). `BuilderFlag.FP16` is not
used: it is deprecated since TensorRT 10.12 and gone in 11, where every network is strongly typed (the flag is
still accepted there and ignored). Each engine has one optimisation profile per target resolution, a bounded
workspace and a timing cache shared by the builds on the same GPU model; it is cached in the model's
`engines/` folder (see `engine_cache`).
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


def require_supported_tensorrt(tensorrt_version: str) -> None:
    """Refuse a TensorRT older than 10 (every supported version builds the same way)."""
    if tensorrt_major(tensorrt_version) < MIN_TENSORRT_MAJOR:
        raise MissingExtraError(f"TensorRT {tensorrt_version} is too old: vidtrans needs TensorRT "
                                f"{MIN_TENSORRT_MAJOR} or newer; {INSTALL_HINT}")


def network_flags(trt: ModuleType) -> int:
    """The `create_network` flags: STRONGLY_TYPED (opt-in on TensorRT 10; on 11 accepted and implied, so a
    TensorRT that no longer has the flag gets none)."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return 0 if flag is None else 1 << int(flag)


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


def build_serialized_engine(trt: ModuleType, onnx_file: Path, *, profiles: Sequence[ShapeProfile], workspace: int,
                            timing_cache: Path | None) -> bytes:
    """Parse `onnx_file` into a strongly typed network (its types are the engine's precision) and build a
    serialized engine with one optimisation profile per entry of `profiles`."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_file)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)) or "no details"
        raise ModelError(f"{onnx_file}: TensorRT could not parse the ONNX graph ({errors})")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace)
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
    onnx: OnnxArtifact
    key: EngineKey
    folder: Path

    @classmethod
    def resolve(cls, trt: ModuleType, model: ModelDirectory, *, device: torch.device, precision: Precision,
                inverse: bool = False) -> EngineTarget:
        """Find (or export) the ONNX graph of `precision`, and the key fields of this TensorRT and GPU."""
        if precision not in ("fp32", "fp16"):
            raise ValueError(f"precision must be fp32 or fp16; got {precision!r}")
        require_supported_tensorrt(trt.__version__)
        gpu_name, capability = gpu_identity(device)
        onnx_artifact = ensure_onnx(model, precision=precision, inverse=inverse)
        key = EngineKey(onnx_sha256=onnx_artifact.onnx_sha256, tensorrt_version=trt.__version__,
                        gpu_name=gpu_name, compute_capability=capability, precision=precision)
        role: WeightRole = "generator_inverse" if inverse else "generator"
        return cls(model=model, role=role, precision=precision, onnx=onnx_artifact, key=key,
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
        engine = build_serialized_engine(trt, self.onnx.path, profiles=profiles, workspace=workspace,
                                         timing_cache=timing_cache_path(self.folder, key))
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
