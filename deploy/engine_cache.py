"""The TensorRT engine cache: keys, records and the rules that decide whether a cached engine can be trusted.

Nothing here needs TensorRT. An engine is valid only for the ONNX graph, TensorRT version, GPU model, compute
capability, precision and shape profiles it was built with; those make its key, whose digest names the files
`<role>.<precision>.<digest>.engine` and `.json` (the record) in the model's `engines/` folder. A record that
does not match its key is stale, an engine whose bytes do not match its record is corrupt: both are rebuilt.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vidtrans.devices import Precision
from vidtrans.errors import UsageError
from vidtrans.fsutil import atomic_write_bytes, atomic_write_text, sha256_file

RECORD_FORMAT = 1


@dataclass(frozen=True)
class BatchRange:
    """The min, opt(imal) and max batch sizes of a TensorRT optimisation profile."""

    min: int
    opt: int
    max: int

    def __post_init__(self) -> None:
        values = (self.min, self.opt, self.max)
        integers = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
        if not integers or not 1 <= self.min <= self.opt <= self.max:
            raise ValueError(f"batch range must be integers with 1 <= min <= opt <= max; got {values}")

    @classmethod
    def parse(cls, text: str) -> BatchRange:
        """`MIN:OPT:MAX` (`1:8:16`) or a single `N`, which means `1:N:N`."""
        parts = text.strip().split(":")
        try:
            values = [int(p) for p in parts]
            if len(values) == 1:
                return cls(1, values[0], values[0])
            if len(values) == 3:
                return cls(*values)
        except ValueError:
            pass
        raise UsageError(f"--batch must be MIN:OPT:MAX with 1 <= MIN <= OPT <= MAX (like 1:8:16) or one batch "
                         f"size; got {text!r}")

    def covers(self, batch: int) -> bool:
        return self.min <= batch <= self.max

    def __str__(self) -> str:
        return f"{self.min}:{self.opt}:{self.max}"


@dataclass(frozen=True)
class ShapeProfile:
    """One optimisation profile: a fixed frame size (already a multiple of the generator's) and a batch range."""

    batch: BatchRange
    height: int
    width: int

    def __post_init__(self) -> None:
        for name, value in (("height", self.height), ("width", self.width)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"profile {name} must be a positive integer; got {value!r}")

    def covers(self, batch: int, height: int, width: int) -> bool:
        return self.height == height and self.width == width and self.batch.covers(batch)

    def describe(self) -> str:
        return f"{self.width}x{self.height} batch {self.batch}"

    def to_json(self) -> dict[str, Any]:
        return {"batch": [self.batch.min, self.batch.opt, self.batch.max], "height": self.height, "width": self.width}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ShapeProfile:
        low, opt, high = (int(v) for v in doc["batch"])
        return cls(BatchRange(low, opt, high), int(doc["height"]), int(doc["width"]))


def round_up(value: int, multiple: int) -> int:
    """The smallest multiple of `multiple` that is >= `value`."""
    return -(-value // multiple) * multiple


def profiles_for(sizes: Sequence[tuple[int, int]], batch: BatchRange, *, multiple: int) -> tuple[ShapeProfile, ...]:
    """One profile per (width, height) target resolution, each side rounded up to `multiple` as the pipeline
    pads it; duplicates after rounding are dropped, order kept."""
    profiles: list[ShapeProfile] = []
    for width, height in sizes:
        if width < 1 or height < 1:
            raise UsageError(f"frame sizes must be positive; got {width}x{height}")
        profile = ShapeProfile(batch, round_up(height, multiple), round_up(width, multiple))
        if profile not in profiles:
            profiles.append(profile)
    if not profiles:
        raise UsageError("at least one frame size is needed for a TensorRT profile")
    return tuple(profiles)


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on. Engines with different keys are never interchangeable."""

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: tuple[int, int]
    precision: Precision
    profiles: tuple[ShapeProfile, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {"onnx_sha256": self.onnx_sha256, "tensorrt_version": self.tensorrt_version,
                "gpu_name": self.gpu_name, "compute_capability": list(self.compute_capability),
                "precision": self.precision, "profiles": [p.to_json() for p in self.profiles]}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> EngineKey:
        major, minor = (int(v) for v in doc["compute_capability"])
        precision = doc["precision"]
        if precision not in ("fp32", "fp16"):
            raise ValueError(f"unknown precision {precision!r}")
        return cls(onnx_sha256=str(doc["onnx_sha256"]), tensorrt_version=str(doc["tensorrt_version"]),
                   gpu_name=str(doc["gpu_name"]), compute_capability=(major, minor), precision=precision,
                   profiles=tuple(ShapeProfile.from_json(p) for p in doc["profiles"]))

    def digest(self) -> str:
        """A short hash of the whole key (names the cache files)."""
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:20]

    def same_target(self, other: EngineKey) -> bool:
        """Whether `other` was built from the same graph for the same TensorRT, GPU and precision."""
        return (self.onnx_sha256, self.tensorrt_version, self.gpu_name, self.compute_capability, self.precision) == (
            other.onnx_sha256, other.tensorrt_version, other.gpu_name, other.compute_capability, other.precision)

    def covers(self, batch: int, height: int, width: int) -> int | None:
        """The index of the first profile that accepts this input shape, or None."""
        return next((i for i, p in enumerate(self.profiles) if p.covers(batch, height, width)), None)

    def describe_target(self) -> str:
        major, minor = self.compute_capability
        return f"TensorRT {self.tensorrt_version} on {self.gpu_name} (compute capability {major}.{minor})"


@dataclass(frozen=True)
class EngineRecord:
    """The JSON record beside an engine file."""

    key: EngineKey
    role: str
    weights_sha256: str
    engine_sha256: str
    build_seconds: float
    workspace_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"format": RECORD_FORMAT, "key": self.key.to_json(), "digest": self.key.digest(), "role": self.role,
                "weights_sha256": self.weights_sha256, "engine_sha256": self.engine_sha256,
                "build_seconds": round(self.build_seconds, 3), "workspace_bytes": self.workspace_bytes,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> EngineRecord:
        if doc.get("format") != RECORD_FORMAT:
            raise ValueError(f"unknown record format {doc.get('format')!r}")
        return cls(key=EngineKey.from_json(doc["key"]), role=str(doc["role"]),
                   weights_sha256=str(doc["weights_sha256"]), engine_sha256=str(doc["engine_sha256"]),
                   build_seconds=float(doc["build_seconds"]), workspace_bytes=int(doc["workspace_bytes"]))


def engine_path(folder: Path, role: str, key: EngineKey) -> Path:
    """`<folder>/<role>.<precision>.<digest>.engine`."""
    return folder / f"{role}.{key.precision}.{key.digest()}.engine"


def record_path(engine: Path) -> Path:
    return engine.with_suffix(".json")


def timing_cache_path(folder: Path, key: EngineKey) -> Path:
    """Timing caches are per TensorRT version and GPU model, shared by all engines of the folder."""
    gpu = re.sub(r"[^A-Za-z0-9]+", "-", key.gpu_name).strip("-").lower() or "gpu"
    major, minor = key.compute_capability
    return folder / f"timing.trt{key.tensorrt_version}.{gpu}.sm{major}{minor}.cache"


CacheStatus = Literal["hit", "missing", "stale", "corrupt"]


@dataclass(frozen=True)
class CacheLookup:
    """The outcome of looking up one key: a trusted engine (`hit`) or why there is none."""

    status: CacheStatus
    path: Path
    reason: str = ""


def read_record(path: Path) -> EngineRecord | None:
    """The record at `path`, or None when it is missing or unreadable."""
    try:
        return EngineRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def lookup_engine(folder: Path, role: str, key: EngineKey, *, weights_sha256: str) -> CacheLookup:
    """Whether the engine for `key` is cached and can be trusted (record matches key and weights, bytes intact)."""
    engine = engine_path(folder, role, key)
    meta = record_path(engine)
    if not engine.is_file() or not meta.is_file():
        return CacheLookup("missing", engine, "no engine was built for this key yet")
    record = read_record(meta)
    if record is None:
        return CacheLookup("corrupt", engine, f"{meta.name} is unreadable")
    if record.key != key or record.role != role or record.weights_sha256 != weights_sha256:
        return CacheLookup("stale", engine, f"{meta.name} describes another engine (weights or key differ)")
    if sha256_file(engine) != record.engine_sha256:
        return CacheLookup("corrupt", engine, f"{engine.name} does not match the sha256 in its record")
    return CacheLookup("hit", engine)


def find_covering_engine(folder: Path, role: str, target: EngineKey, *, weights_sha256: str, batch: int,
                         height: int, width: int) -> tuple[EngineKey, Path] | None:
    """A trusted cached engine for the same graph, TensorRT, GPU and precision as `target` (its profiles are
    ignored) whose profiles accept this input shape; the one with the smallest max batch wins."""
    candidates = []
    for meta in sorted(folder.glob(f"{role}.{target.precision}.*.json")):
        record = read_record(meta)
        if record is None or not record.key.same_target(target) or record.key.covers(batch, height, width) is None:
            continue
        if lookup_engine(folder, role, record.key, weights_sha256=weights_sha256).status == "hit":
            index = record.key.covers(batch, height, width)
            candidates.append((record.key.profiles[index].batch.max, record.key))  # type: ignore[index]
    if not candidates:
        return None
    key = min(candidates, key=lambda item: item[0])[1]
    return key, engine_path(folder, role, key)


def incompatible_engines(folder: Path, role: str, target: EngineKey, *, weights_sha256: str) -> list[str]:
    """Descriptions of cached engines of the same weights and precision built for another TensorRT or GPU
    (for the message that explains a rebuild or a refusal)."""
    found = []
    for meta in sorted(folder.glob(f"{role}.{target.precision}.*.json")):
        record = read_record(meta)
        if record is None or record.weights_sha256 != weights_sha256:
            continue
        other = record.key
        if (other.tensorrt_version, other.gpu_name, other.compute_capability) != (
                target.tensorrt_version, target.gpu_name, target.compute_capability):
            found.append(f"{meta.with_suffix('.engine').name} was built for {other.describe_target()}")
    return found


def store_engine(folder: Path, role: str, key: EngineKey, engine: bytes, *, weights_sha256: str,
                 build_seconds: float, workspace_bytes: int) -> Path:
    """Write the engine, then its record (each atomically); the record carries the engine's sha256."""
    path = engine_path(folder, role, key)
    atomic_write_bytes(path, engine)
    record = EngineRecord(key=key, role=role, weights_sha256=weights_sha256,
                          engine_sha256=hashlib.sha256(engine).hexdigest(), build_seconds=build_seconds,
                          workspace_bytes=workspace_bytes)
    atomic_write_text(record_path(path), json.dumps(record.to_json(), indent=2) + "\n")
    return path


def discard_engine(path: Path) -> None:
    """Remove an engine and its record (after it proved unusable)."""
    path.unlink(missing_ok=True)
    record_path(path).unlink(missing_ok=True)


def prune_obsolete(folder: Path, role: str, *, weights_sha256: str) -> list[Path]:
    """Delete the engines of `role` built from other weights (they can never be used again); returns them."""
    removed = []
    for meta in sorted(folder.glob(f"{role}.*.json")):
        record = read_record(meta)
        if record is not None and record.role == role and record.weights_sha256 != weights_sha256:
            engine = meta.with_suffix(".engine")
            discard_engine(engine)
            removed.append(engine)
    return removed
