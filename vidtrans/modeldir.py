"""Model directories: `model.json` plus safetensors weights, written atomically and validated on load."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import vidtrans
from vidtrans.errors import ModelError, OutputError
from vidtrans.fsutil import atomic_folder, folder_listing, sha256_file
from vidtrans.networks import GeneratorConfig, build_generator, config_from_dict, config_to_dict

FORMAT_VERSION = 1
MODEL_JSON = "model.json"
WeightRole = Literal["generator", "generator_inverse"]
WEIGHT_FILES: dict[str, str] = {
    "generator": "generator.safetensors",
    "generator_inverse": "generator_inverse.safetensors",
}


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
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "vidtrans_version": vidtrans.__version__,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ModelInfo:
        """Parse a `model.json` document (already checked for its format version)."""
        direction = doc.get("direction") or {}
        norm = doc.get("normalization") or {}
        size = doc.get("training_size")
        return cls(
            name=str(doc["name"]),
            generator=config_from_dict(doc["generator"]),
            source_domain=str(direction.get("source", "A")),
            target_domain=str(direction.get("target", "B")),
            has_inverse=bool(doc.get("has_inverse", False)),
            training_size=(int(size[0]), int(size[1])) if size else None,
            mean=tuple(float(v) for v in norm.get("mean", (0.5, 0.5, 0.5))),
            std=tuple(float(v) for v in norm.get("std", (0.5, 0.5, 0.5))),
            description=str(doc.get("description", "")),
            provenance=dict(doc.get("provenance") or {}),
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
        module = build_generator(self.info.generator)
        load_state_dict_checked(module, read_safetensors(path), source=path)
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


def load_state_dict_checked(module: nn.Module, state: Mapping[str, torch.Tensor], *, source: Path | str) -> None:
    """Load `state` into `module` strictly, or raise a ModelError that names the keys that don't fit."""
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
    module.load_state_dict(state, strict=True)


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
    with atomic_folder(path) as staging:
        hashes: dict[str, str] = {}
        for role, module in (("generator", generator), ("generator_inverse", inverse)):
            if module is None:
                continue
            file = staging / WEIGHT_FILES[role]
            save_weights(module, file)
            hashes[role] = sha256_file(file)
        (staging / MODEL_JSON).write_text(json.dumps(info.to_json(hashes), indent=2) + "\n", encoding="utf-8")
    return open_model(path)


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
        files = doc.get("files") or {}
        hashes = {role: str(files[role]["sha256"]) for role in files}
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(f"{manifest}: invalid model description ({error})") from None
    needed = ["generator"] + (["generator_inverse"] if info.has_inverse else [])
    missing = [WEIGHT_FILES[r] for r in needed if r not in hashes or not (path / WEIGHT_FILES[r]).is_file()]
    if missing:
        raise ModelError(f"{path}: missing {', '.join(missing)} (it holds: {folder_listing(path)})")
    return ModelDirectory(path=path, info=info, sha256=hashes)

