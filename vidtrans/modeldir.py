"""Model directories: `model.json` plus safetensors weights, written atomically and validated on load."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import vidtrans
from vidtrans.errors import ModelError, OutputError, UsageError
from vidtrans.fsutil import atomic_path, atomic_write_text, folder_listing, sha256_file
from vidtrans.networks import (
    GeneratorConfig,
    ResnetGeneratorConfig,
    UnetGeneratorConfig,
    build_generator,
    config_from_dict,
    config_to_dict,
)

FORMAT_VERSION = 1
MODEL_JSON = "model.json"
WeightRole = Literal["generator", "generator_inverse"]
WEIGHT_FILES: dict[str, str] = {
    "generator": "generator.safetensors",
    "generator_inverse": "generator_inverse.safetensors",
}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _numbers(field_name: str, value: Any, count: int) -> tuple[float, ...]:
    """`value` as `count` finite numbers, or a ValueError naming the field."""
    if not isinstance(value, (list, tuple)) or len(value) != count or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        raise ValueError(f"{field_name} must be {count} finite numbers; got {value!r}")
    return tuple(float(v) for v in value)


@dataclass(frozen=True)
class ModelInfo:
    """What `model.json` says about a model, beside the weights' hashes."""

    name: str
    generator: GeneratorConfig
    source_domain: str = "A"
    target_domain: str = "B"
    has_inverse: bool = False
    training_size: tuple[int, int] | None = None
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    description: str = ""
    provenance: Mapping[str, Any] = field(default_factory=dict)
    evaluations: tuple[Mapping[str, Any], ...] = ()
    """Metrics recorded by `vidtrans eval --record`, oldest first (shown on the model card)."""

    def __post_init__(self) -> None:
        from vidtrans.registry import validate_name  # the registry builds on this module

        try:
            validate_name(str(self.name))
        except UsageError as error:
            raise ValueError(str(error)) from None
        if not isinstance(self.generator, (ResnetGeneratorConfig, UnetGeneratorConfig)):
            raise ValueError(f"generator must be a resnet or unet generator; got {self.generator!r}")
        if self.generator.in_channels != 3 or self.generator.out_channels not in (1, 3):
            raise ValueError(f"generator must take 3 channels (RGB) and return 3 or 1; it takes "
                             f"{self.generator.in_channels} and returns {self.generator.out_channels}")
        if not isinstance(self.has_inverse, bool):
            raise ValueError(f"has_inverse must be true or false; got {self.has_inverse!r}")
        size = self.training_size
        if size is not None and not (isinstance(size, (tuple, list)) and len(size) == 2 and all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size)):
            raise ValueError(f"training_size must be two positive integers; got {size!r}")
        object.__setattr__(self, "training_size", tuple(size) if size is not None else None)
        object.__setattr__(self, "mean", _numbers("normalization.mean", self.mean, 3))
        object.__setattr__(self, "std", _numbers("normalization.std", self.std, 3))
        if min(self.std) <= 0:
            raise ValueError(f"normalization.std must be positive; got {list(self.std)!r}")
        if not isinstance(self.evaluations, (tuple, list)) or not all(isinstance(e, Mapping) for e in self.evaluations):
            raise ValueError(f"evaluations must be a list of objects; got {self.evaluations!r}")
        object.__setattr__(self, "evaluations", tuple(self.evaluations))

    def to_json(self, hashes: Mapping[str, str]) -> dict[str, Any]:
        """The `model.json` document, with the sha256 of each weight file."""
        return {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "description": self.description,
            "generator": config_to_dict(self.generator),
            "direction": {"source": self.source_domain, "target": self.target_domain},
            "has_inverse": self.has_inverse,
            "training_size": list(self.training_size) if self.training_size else None,
            "normalization": {"mean": list(self.mean), "std": list(self.std)},
            "files": {role: {"path": WEIGHT_FILES[role], "sha256": digest} for role, digest in hashes.items()},
            "provenance": dict(self.provenance),
            "evaluations": [dict(e) for e in self.evaluations],
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "vidtrans_version": vidtrans.__version__,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ModelInfo:
        """Parse a `model.json` document (already checked for its format version); ValueError names the field."""
        for key in ("name", "generator"):
            if key not in doc:
                raise ValueError(f"missing {key!r}")
        direction, norm, provenance = (doc.get(key) or {} for key in ("direction", "normalization", "provenance"))
        for key, section in (("direction", direction), ("normalization", norm), ("provenance", provenance)):
            if not isinstance(section, dict):
                raise ValueError(f"{key} must be an object; got {section!r}")
        try:
            generator = config_from_dict(doc["generator"])
        except (TypeError, ValueError) as error:
            raise ValueError(f"generator: {error}") from None
        return cls(
            name=str(doc["name"]),
            generator=generator,  # type: ignore[arg-type] - a discriminator config is refused on construction
            source_domain=str(direction.get("source", "A")),
            target_domain=str(direction.get("target", "B")),
            has_inverse=doc.get("has_inverse", False),
            training_size=doc.get("training_size"),
            mean=norm.get("mean", (0.5, 0.5, 0.5)),
            std=norm.get("std", (0.5, 0.5, 0.5)),
            description=str(doc.get("description", "")),
            provenance=provenance,
            evaluations=doc.get("evaluations") or (),
        )


@dataclass(frozen=True)
class ModelDirectory:
    """A model directory that passed validation: its info and the recorded hash of each weight file."""

    path: Path
    info: ModelInfo
    sha256: Mapping[str, str]

    @property
    def name(self) -> str:
        return self.info.name

    def weights_path(self, role: WeightRole = "generator") -> Path:
        return self.path / WEIGHT_FILES[role]

    def load_generator(self, *, inverse: bool = False, device: str | torch.device = "cpu",
                       verify: bool = True) -> nn.Module:
        """Build the generator (or, with `inverse`, the target->source one) and load its weights, in eval mode."""
        role: WeightRole = "generator_inverse" if inverse else "generator"
        if inverse and not self.info.has_inverse:
            raise ModelError(f"{self.path}: this model has no inverse generator ({self.info.target_domain} -> "
                             f"{self.info.source_domain})")
        path = self.weights_path(role)
        if verify and sha256_file(path) != self.sha256[role]:
            raise ModelError(f"{path}: sha256 does not match {MODEL_JSON} (the file was changed or is corrupt)")
        module = generator_with_weights(self.info.generator, read_safetensors(path), source=path)
        return module.to(device).eval()

    def derived_dir(self, kind: Literal["onnx", "engines"]) -> Path:
        """The folder for derived artefacts of `kind` (created on demand)."""
        folder = self.path / kind
        folder.mkdir(exist_ok=True)
        return folder


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file, turning format errors into a ModelError naming the file."""
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelError(f"{path}: not a readable safetensors file ({error})") from None


def check_finite(state: Mapping[str, torch.Tensor], *, source: Path | str) -> None:
    """Raise a ModelError naming the first floating-point tensor of `state` that holds NaN or infinity."""
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise ModelError(f"{source}: tensor {key} holds {bad} NaN or infinite value(s) of {tensor.numel()}; "
                             "a model with such weights translates to black or noise")


def check_state_dict(module: nn.Module, state: Mapping[str, torch.Tensor], *, source: Path | str) -> None:
    """Raise a ModelError naming the keys of `state` that don't fit `module` (which may live on the meta
    device), or the first tensor that is not finite."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
                  if k in state and tuple(state[k].shape) != tuple(v.shape)]
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mismatched)):
        if keys:
            shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
            problems.append(f"{label}: {shown}")
    if problems:
        raise ModelError(f"{source}: weights don't match the architecture ({'; '.join(problems)})")
    check_finite(state, source=source)


def generator_with_weights(config: GeneratorConfig, state: Mapping[str, torch.Tensor], *,
                           source: Path | str) -> nn.Module:
    """The generator of `config` holding `state`, or the ModelError of `check_state_dict`.

    The check runs on the meta device first, so a config that promises a huge network allocates nothing.
    """
    with torch.device("meta"):
        check_state_dict(build_generator(config), state, source=source)
    module = build_generator(config)
    module.load_state_dict(state, strict=True)
    return module


def save_weights(module: nn.Module, file: Path) -> None:
    """Write a module's state dict (on the CPU) as a safetensors file readable by everyone."""
    state = {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(file), metadata={"format": "pt"})
    file.chmod(0o644)  # safetensors creates owner-only files; weights are meant to be shared


def save_model(path: Path, info: ModelInfo, generator: nn.Module, inverse: nn.Module | None = None, *,
               overwrite: bool = False) -> ModelDirectory:
    """Write a model directory at `path`; it appears under its final name only once complete."""
    path = Path(path)
    if (inverse is not None) != info.has_inverse:
        raise ValueError("info.has_inverse must be true exactly when an inverse generator is given")
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: already exists (pass --overwrite to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as staging:
        staging.mkdir()
        hashes: dict[str, str] = {}
        for role, module in (("generator", generator), ("generator_inverse", inverse)):
            if module is None:
                continue
            file = staging / WEIGHT_FILES[role]
            save_weights(module, file)
            hashes[role] = sha256_file(file)
        (staging / MODEL_JSON).write_text(json.dumps(info.to_json(hashes), indent=2) + "\n", encoding="utf-8")
        _write_card(staging, info, hashes)
    return open_model(path)


def _write_card(folder: Path, info: ModelInfo, hashes: Mapping[str, str]) -> None:
    from vidtrans.modelcard import CARD_FILE, render_card

    atomic_write_text(folder / CARD_FILE, render_card(info, hashes))


def record_evaluation(model: ModelDirectory, record: Mapping[str, Any]) -> ModelDirectory:
    """Add an evaluation to a model's `model.json` and card; each file is replaced atomically.

    Bundled models are read-only (they live inside the installed package).
    """
    from vidtrans.registry import is_bundled

    if is_bundled(model):
        raise OutputError(f"{model.path}: the bundled model {model.name!r} is read-only; record evaluations on a "
                          "copy (`vidtrans models import` or a trained model)")
    info = dataclasses.replace(model.info, evaluations=(*model.info.evaluations, dict(record)))
    doc = json.loads((model.path / MODEL_JSON).read_text(encoding="utf-8"))
    doc["evaluations"] = [dict(e) for e in info.evaluations]
    atomic_write_text(model.path / MODEL_JSON, json.dumps(doc, indent=2) + "\n")
    _write_card(model.path, info, model.sha256)
    return open_model(model.path)


def _recorded_hashes(files: Any) -> dict[str, str]:
    """The sha256 `model.json` records for each weight file, or a ValueError naming what is wrong."""
    if not isinstance(files, dict):
        raise ValueError(f"files must be an object; got {files!r}")
    hashes = {}
    for role, entry in files.items():
        if role not in WEIGHT_FILES:
            raise ValueError(f"files: unknown role {role!r} (known: {', '.join(WEIGHT_FILES)})")
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise ValueError(f"files.{role}.sha256 must be 64 lowercase hex digits; got {digest!r}")
        hashes[role] = digest
    return hashes


def open_model(path: Path) -> ModelDirectory:
    """Validate a model directory and read its `model.json`; weights are checked when loaded."""
    path = Path(path)
    if not path.is_dir():
        raise ModelError(f"{path}: not a model directory (no such folder)")
    manifest = path / MODEL_JSON
    if not manifest.is_file():
        raise ModelError(f"{path}: not a model directory: missing {MODEL_JSON} (it holds: {folder_listing(path)})")
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelError(f"{manifest}: not valid JSON ({error})") from None
    if not isinstance(doc, dict):
        raise ModelError(f"{manifest}: expected a JSON object")
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelError(f"{manifest}: unknown format version {version!r} (this vidtrans reads version "
                         f"{FORMAT_VERSION}; a newer vidtrans may be needed)")
    try:
        info = ModelInfo.from_json(doc)
        hashes = _recorded_hashes(doc.get("files") or {})
    except (TypeError, ValueError) as error:
        raise ModelError(f"{manifest}: invalid model description: {error}") from None
    needed = ["generator"] + (["generator_inverse"] if info.has_inverse else [])
    missing = [WEIGHT_FILES[r] for r in needed if r not in hashes or not (path / WEIGHT_FILES[r]).is_file()]
    if missing:
        raise ModelError(f"{path}: missing {', '.join(missing)} (it holds: {folder_listing(path)})")
    return ModelDirectory(path=path, info=info, sha256=hashes)

