"""`vidtrans export`: the ONNX graphs or the TensorRT engine a user asks for, built or reused from the cache."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from vidtrans.console import format_duration
from vidtrans.errors import UsageError
from vidtrans.modeldir import ModelDirectory

EXPORT_FORMATS: tuple[str, ...] = ("onnx", "tensorrt")


@dataclass(frozen=True)
class ExportOptions:
    """What to export: the format, fp16, the ONNX opset, the inverse generator, and TensorRT's profiles.

    `sizes` are the (width, height) frame sizes a TensorRT engine is built for (default: the model's training
    size), each with the batch range `batch` (MIN:OPT:MAX); `device` is the GPU it is built on.
    """

    format: Literal["onnx", "tensorrt"] = "onnx"
    fp16: bool = False
    opset: int | None = None
    inverse: bool = False
    force: bool = False
    batch: str = "1:8:16"
    sizes: tuple[tuple[int, int], ...] = ()
    device: str = "cuda"
    workspace_gib: float = 4.0

    def __post_init__(self) -> None:
        if self.format not in EXPORT_FORMATS:
            raise UsageError(f"--format must be onnx or tensorrt; got {self.format!r}")


@dataclass(frozen=True)
class ExportResult:
    """What `export_model` built or reused: one JSON-ready record and report lines per artefact."""

    model: ModelDirectory
    format: str
    artifacts: tuple[dict[str, Any], ...]
    lines: tuple[str, ...]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model.name, "path": str(self.model.path), "format": self.format,
                "artifacts": list(self.artifacts), "seconds": round(self.seconds, 3)}


def export_model(model: ModelDirectory, options: ExportOptions = ExportOptions()) -> ExportResult:
    """Export `model` as `options` say; current artefacts are reused unless `options.force`."""
    started = time.perf_counter()
    build = _export_onnx if options.format == "onnx" else _export_tensorrt
    artifacts, lines = build(model, options)
    return ExportResult(model=model, format=options.format, artifacts=tuple(artifacts), lines=tuple(lines),
                        seconds=time.perf_counter() - started)


def _export_onnx(model: ModelDirectory, options: ExportOptions) -> tuple[list[dict], list[str]]:
    from vidtrans.deploy.onnx_export import check_opset, ensure_onnx

    if options.opset is not None:
        check_opset(options.opset)
    artifacts, lines = [], []
    for precision in ("fp32", "fp16") if options.fp16 else ("fp32",):
        artifact = ensure_onnx(model, precision=precision, inverse=options.inverse, opset=options.opset,
                               force=options.force)
        size_mb = artifact.path.stat().st_size / 1e6
        state = ("up to date (weights unchanged; --force exports again)" if artifact.reused
                 else f"exported in {format_duration(artifact.seconds)}")
        lines.append(f"onnx {precision}: {artifact.path} (opset {artifact.opset}, {size_mb:.1f} MB) {state}")
        lines += [f"  verified, ONNX Runtime (CPU) vs PyTorch, {check.describe()}" for check in artifact.checks]
        if artifact.unverified:
            lines.append(f"  not verified: {artifact.unverified}")
        lines.append(f"  tolerance {artifact.tolerance:.1e}; details in {artifact.sidecar.name}")
        artifacts.append({"precision": precision, "path": str(artifact.path), "opset": artifact.opset,
                          "reused": artifact.reused, "seconds": round(artifact.seconds, 3),
                          "onnx_sha256": artifact.onnx_sha256, "tolerance": artifact.tolerance,
                          "unverified": artifact.unverified, "checks": [check.to_json() for check in artifact.checks]})
    return artifacts, lines


def _export_tensorrt(model: ModelDirectory, options: ExportOptions) -> tuple[list[dict], list[str]]:
    from vidtrans.deploy.engine_cache import BatchRange, profiles_for
    from vidtrans.deploy.tensorrt_build import ensure_engine, import_tensorrt, require_gpu
    from vidtrans.devices import resolve_device

    import_tensorrt()
    target = resolve_device(options.device)
    require_gpu(target)
    sizes = list(options.sizes)
    if not sizes:
        if model.info.training_size is None:
            raise UsageError("give the frame size(s) to build for with --width W --height H (the model records no "
                             "training size)")
        sizes = [model.info.training_size]
    multiple = model.info.generator.size_multiple
    profiles = profiles_for(sizes, BatchRange.parse(options.batch), multiple=multiple)
    lines = [f"{w}x{h} is padded to a multiple of {multiple}, as convert does"
             for w, h in sizes if w % multiple or h % multiple]
    precision = "fp16" if options.fp16 else "fp32"
    artifact = ensure_engine(model, device=target, precision=precision, profiles=profiles, inverse=options.inverse,
                             workspace_gib=options.workspace_gib, force=options.force)
    state = f"built in {format_duration(artifact.seconds)}" if artifact.built else "cached (--force builds again)"
    lines.append(f"tensorrt {precision}: {artifact.path} {state}")
    lines.append(f"  for {artifact.key.describe_target()}, from {artifact.onnx.path.name}; profiles: "
                 f"{', '.join(p.describe() for p in artifact.key.profiles)}")
    artifacts = [{"precision": precision, "path": str(artifact.path), "built": artifact.built,
                  "seconds": round(artifact.seconds, 3), "key": artifact.key.to_json(),
                  "onnx": str(artifact.onnx.path)}]
    return artifacts, lines
