"""ONNX export of a model's generators, stored in the model directory and reused while the weights match.

The graph is the generator's own contract, so any ONNX tool can run it: one input `input`, float32 NCHW RGB in
[-1, 1], one output `output` of the same layout and range; batch, height and width are dynamic (height and
width multiples of the generator's `size_multiple`). Files, in `<model>/onnx/`:

- `generator.fp32.onnx` (or `generator_inverse.fp32.onnx`): exported with `torch.onnx.export(dynamo=True)`,
  whose graph is plain Pad/Conv/InstanceNormalization/ConvTranspose ops with symbolic sizes (the TorchScript
  exporter adds Shape/Reshape plumbing for the reflect pads and is deprecated);
- `generator.fp16.onnx`: converted from the fp32 graph by `vidtrans.deploy.fp16` (fp16 compute, fp32 I/O);
- a JSON sidecar beside each (`generator.fp32.json`): weights and graph sha256, opset, exporter and library
  versions, and the verification results.

Each file is checked with `onnx.checker` and verified against PyTorch with ONNX Runtime before it is moved
into place, so a failed or interrupted export never leaves a file under its final name. ONNX Runtime is
optional: without it the graph is exported and checked but not verified (the sidecar and `OnnxArtifact.unverified`
say why), and the next `ensure_onnx` once ONNX Runtime is installed exports and verifies it again.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
import torch

import vidtrans
from vidtrans.console import info, warn
from vidtrans.devices import Precision
from vidtrans.errors import ModelError, UsageError
from vidtrans.deploy.fp16 import DEFAULT_KEEP_FP32, convert_to_fp16
from vidtrans.deploy.storage import artifact_dir
from vidtrans.deploy.verify import (
    FP16_TOLERANCE,
    FP32_TOLERANCE,
    Shape,
    SizeCheck,
    check_onnx_file,
    compare_with_torch,
    default_verification_shapes,
    verification_unavailable,
)
from vidtrans.fsutil import atomic_path, atomic_write_text, sha256_file
from vidtrans.modeldir import ModelDirectory, WeightRole

SIDECAR_FORMAT = 1
DEFAULT_OPSET = 18
MIN_OPSET = 18
INPUT_NAME = "input"
OUTPUT_NAME = "output"
EXPORTER = "torch.onnx.export(dynamo=True)"


def max_opset() -> int:
    """The newest opset the installed `onnx` knows."""
    return int(onnx.defs.onnx_opset_version())


def check_opset(opset: int) -> int:
    """Return `opset` if this exporter can produce it, else raise a UsageError naming the range."""
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= max_opset():
        raise UsageError(f"--opset must be an integer from {MIN_OPSET} to {max_opset()}; got {opset!r}")
    return opset


@dataclass(frozen=True)
class OnnxArtifact:
    """An exported, verified ONNX graph of one generator at one precision."""

    path: Path
    role: WeightRole
    precision: Precision
    opset: int
    weights_sha256: str
    onnx_sha256: str
    checks: tuple[SizeCheck, ...]
    tolerance: float
    reused: bool
    seconds: float
    unverified: str | None = None
    """Why the graph was not verified against PyTorch (ONNX Runtime missing), or None when it was."""

    @property
    def sidecar(self) -> Path:
        return sidecar_path(self.path)


def onnx_path(folder: Path, role: WeightRole, precision: Precision) -> Path:
    """`<folder>/generator.fp32.onnx` and the like."""
    return folder / f"{role}.{precision}.onnx"


def sidecar_path(path: Path) -> Path:
    """The JSON sidecar beside an ONNX file: `generator.fp32.onnx` -> `generator.fp32.json`."""
    return path.with_suffix(".json")


def ensure_onnx(model: ModelDirectory, *, precision: Precision = "fp32", inverse: bool = False,
                opset: int | None = None, force: bool = False,
                shapes: Sequence[Shape] | None = None) -> OnnxArtifact:
    """The verified ONNX graph of `model`'s generator (or, with `inverse`, its inverse) at `precision`.

    An existing export is reused when its sidecar matches the current weights' sha256 and its file hash (and
    `opset`, when given); otherwise, or with `force`, it is exported again. fp16 is converted from the fp32
    export (itself ensured first). `shapes` are the (batch, height, width) verification shapes
    (default: `default_verification_shapes`).
    """
    if precision not in ("fp32", "fp16"):
        raise ValueError(f"precision must be fp32 or fp16; got {precision!r}")
    if opset is not None:
        check_opset(opset)
    role: WeightRole = "generator_inverse" if inverse else "generator"
    if inverse and not model.info.has_inverse:
        raise ModelError(f"{model.path}: this model has no inverse generator")
    folder = artifact_dir(model, "onnx")
    path = onnx_path(folder, role, precision)
    weights_sha256 = model.sha256[role]
    if not force:
        cached = load_artifact(path, role=role, precision=precision, weights_sha256=weights_sha256, opset=opset)
        if cached is not None:
            return cached
    multiple = model.info.generator.size_multiple
    shapes = tuple(shapes or default_verification_shapes(multiple))
    source = None
    if precision == "fp16":
        source = ensure_onnx(model, precision="fp32", inverse=inverse, opset=opset, force=force, shapes=shapes)
    chosen_opset = source.opset if source is not None else opset or DEFAULT_OPSET
    tolerance = FP16_TOLERANCE if precision == "fp16" else FP32_TOLERANCE
    started = time.perf_counter()
    info(f"exporting {model.name} ({role}) to ONNX {precision} and verifying it against PyTorch: {path}")
    generator = model.load_generator(inverse=inverse, device="cpu")
    with atomic_path(path) as temporary:
        if source is None:
            export_fp32(generator, temporary, opset=chosen_opset, multiple=multiple,
                         in_channels=model.info.generator.in_channels)
        else:
            converted = convert_to_fp16(onnx.load(str(source.path)))
            onnx.save_model(converted, str(temporary))
        _stamp(temporary, model=model, role=role, precision=precision, multiple=multiple)
        check_onnx_file(temporary, label=path)
        unverified = verification_unavailable()
        checks: tuple[SizeCheck, ...] = ()
        if unverified is None:
            checks = compare_with_torch(temporary, generator, shapes=shapes, tolerance=tolerance,
                                        in_channels=model.info.generator.in_channels, label=path)
        else:
            warn(f"{path}: not verified against PyTorch: {unverified}")
        onnx_sha256 = sha256_file(temporary)
    artifact = OnnxArtifact(path=path, role=role, precision=precision, opset=chosen_opset,
                            weights_sha256=weights_sha256, onnx_sha256=onnx_sha256, checks=checks,
                            tolerance=tolerance, reused=False, seconds=time.perf_counter() - started,
                            unverified=unverified)
    atomic_write_text(sidecar_path(path), json.dumps(_sidecar(artifact, source), indent=2) + "\n")
    return artifact


def load_artifact(path: Path, *, role: WeightRole, precision: Precision, weights_sha256: str,
                  opset: int | None = None) -> OnnxArtifact | None:
    """The export at `path` if its sidecar says it is current and the file is intact, else None (also for an
    unverified export once ONNX Runtime can verify it)."""
    try:
        doc = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
        current = (doc["format"] == SIDECAR_FORMAT and doc["role"] == role and doc["precision"] == precision
                   and doc["weights_sha256"] == weights_sha256 and (opset is None or doc["opset"] == opset))
        unverified = doc["verification"].get("unverified")
        if unverified is not None and verification_unavailable() is None:
            return None
        if not current or not path.is_file() or sha256_file(path) != doc["onnx_sha256"]:
            return None
        checks = tuple(SizeCheck(int(c["batch"]), int(c["height"]), int(c["width"]), float(c["max_abs_diff"]))
                       for c in doc["verification"]["checks"])
        return OnnxArtifact(path=path, role=role, precision=precision, opset=int(doc["opset"]),
                            weights_sha256=weights_sha256, onnx_sha256=str(doc["onnx_sha256"]), checks=checks,
                            tolerance=float(doc["verification"]["tolerance"]), reused=True, seconds=0.0,
                            unverified=unverified)
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's warnings and log lines (they would reach the user's terminal)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def export_fp32(generator: torch.nn.Module, path: Path, *, opset: int, multiple: int, in_channels: int) -> None:
    """Export a fully convolutional image network (NCHW in, `input` -> `output`) to an fp32 ONNX file at `path`,
    with dynamic batch and with height and width dynamic multiples of `multiple`."""
    sample = torch.rand(2, in_channels, 2 * multiple, 3 * multiple, generator=torch.Generator().manual_seed(0))
    sample = sample * 2 - 1
    batch = torch.export.Dim("batch", min=1)
    height = torch.export.Dim("height", min=1)
    width = torch.export.Dim("width", min=1)
    try:
        with _quiet_exporter():
            program = torch.onnx.export(
                generator, (sample,), dynamo=True, opset_version=opset, verbose=False,
                input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: batch, 2: multiple * height, 3: multiple * width},),
            )
        if program is None:
            raise RuntimeError("the exporter returned no program")
        onnx.save_model(program.model_proto, str(path))
    except Exception as error:  # noqa: BLE001 - the exporter raises many types; report it in one line
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ModelError(f"ONNX export failed: {type(error).__name__}: {message}") from error


def _stamp(path: Path, *, model: ModelDirectory, role: WeightRole, precision: Precision, multiple: int) -> None:
    """Describe the graph's contract in the file itself (doc string and metadata), for other ONNX tools."""
    proto = onnx.load(str(path))
    proto.producer_name = "vidtrans"
    proto.producer_version = vidtrans.__version__
    domains = (model.info.source_domain, model.info.target_domain)
    source, target = domains if role == "generator" else domains[::-1]
    proto.doc_string = (f"vidtrans model {model.name}, {role} ({source} -> {target}): input float32 NCHW RGB in "
                        f"[-1, 1], height and width multiples of {multiple}; output the same layout and range; "
                        f"{precision} compute")
    metadata = {"vidtrans.model": model.name, "vidtrans.role": role, "vidtrans.precision": precision,
                "vidtrans.size_multiple": str(multiple), "vidtrans.weights_sha256": model.sha256[role],
                "vidtrans.value_range": "[-1, 1]"}
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save_model(proto, str(path))


def _sidecar(artifact: OnnxArtifact, source: OnnxArtifact | None) -> dict[str, Any]:
    try:
        import onnxruntime
        runtime_version: str | None = onnxruntime.__version__
    except ImportError:
        runtime_version = None
    doc: dict[str, Any] = {
        "format": SIDECAR_FORMAT,
        "role": artifact.role,
        "precision": artifact.precision,
        "file": artifact.path.name,
        "onnx_sha256": artifact.onnx_sha256,
        "weights_sha256": artifact.weights_sha256,
        "opset": artifact.opset,
        "exporter": EXPORTER,
        "input": INPUT_NAME,
        "output": OUTPUT_NAME,
        "versions": {"vidtrans": vidtrans.__version__, "torch": torch.__version__, "onnx": onnx.__version__,
                     "onnxruntime": runtime_version},
        "verification": {"runtime": "onnxruntime CPUExecutionProvider", "reference": "PyTorch fp32 on the CPU",
                         "tolerance": artifact.tolerance, "checks": [c.to_json() for c in artifact.checks],
                         "unverified": artifact.unverified},
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(artifact.seconds, 3),
    }
    if source is not None:
        doc["converted_from"] = {"file": source.path.name, "onnx_sha256": source.onnx_sha256,
                                 "kept_fp32_ops": list(DEFAULT_KEEP_FP32)}
    return doc
