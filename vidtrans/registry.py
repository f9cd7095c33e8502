"""Finding models by name: the user's models under $VIDTRANS_HOME/models, then the bundled ones."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import platformdirs

from vidtrans.console import warn
from vidtrans.errors import ModelError, UsageError
from vidtrans.modeldir import ModelDirectory, open_model

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
BUNDLED_MODELS = Path(__file__).parent / "models"


def validate_name(name: str) -> str:
    """Return `name` if it is a valid model name (letters, digits, '-', '_', '.'; never a path)."""
    if not _NAME.match(name) or name in {".", ".."} or ".." in name:
        raise UsageError(f"invalid model name {name!r}: use letters, digits, '-', '_' and '.', "
                         "starting with a letter or digit (a name, not a path)")
    return name


def vidtrans_home() -> Path:
    """$VIDTRANS_HOME, or the user's data directory for vidtrans."""
    env = os.environ.get("VIDTRANS_HOME")
    return Path(env).expanduser() if env else Path(platformdirs.user_data_dir("vidtrans"))


def user_models_dir() -> Path:
    """Where trained and imported models are registered."""
    return vidtrans_home() / "models"


def user_model_path(name: str) -> Path:
    """Where a user model called `name` is registered; the names of bundled models are refused, so that a model
    of the user's never hides one (`demo` would otherwise silently change what `vidtrans demo` runs)."""
    if (BUNDLED_MODELS / validate_name(name)).is_dir():
        raise UsageError(f"{name!r} is the name of a bundled model; choose another name (write the model "
                         "elsewhere with --output, or train with --no-register, to keep this one)")
    return user_models_dir() / name


def _hiding_note(name: str) -> str:
    return (f"this user model hides the bundled model {name!r} (rename it, or `vidtrans models remove {name}`, "
            "to use the bundled one)")


def is_bundled(model: ModelDirectory) -> bool:
    """Whether `model` is one of the models shipped inside the installed package (read-only)."""
    return model.path.resolve().parent == BUNDLED_MODELS.resolve()


def _looks_like_path(spec: str) -> bool:
    return os.sep in spec or "/" in spec or spec.startswith(("~", ".")) or Path(spec).is_dir()


def resolve_model(spec: str | Path) -> ModelDirectory:
    """Open the model `spec` names: a directory path, or a name in the user's models, then the bundled ones."""
    text = str(spec)
    if isinstance(spec, Path) or _looks_like_path(text):
        return open_model(Path(text).expanduser())
    validate_name(text)
    if (user_models_dir() / text).is_dir():
        if (BUNDLED_MODELS / text).is_dir():
            warn(f"{user_models_dir() / text}: {_hiding_note(text)}")
        return open_model(user_models_dir() / text)
    if (BUNDLED_MODELS / text).is_dir():
        return open_model(BUNDLED_MODELS / text)
    known = ", ".join(entry.name for entry in list_models()) or "none"
    raise ModelError(f"unknown model {text!r}: not in {user_models_dir()} nor among the bundled models "
                     f"(known: {known}); pass a model directory path or see `vidtrans models list`")


@dataclass(frozen=True)
class ModelEntry:
    """One model the registry can see; `model` is None when its directory is broken (see `error`); `note` says
    when a user model hides a bundled one (made by an older vidtrans, or by hand)."""

    name: str
    path: Path
    source: Literal["user", "bundled"]
    model: ModelDirectory | None
    error: str | None = None
    note: str | None = None


def list_models() -> list[ModelEntry]:
    """All registered models, user models first; a user model hides a bundled one of the same name."""
    entries: list[ModelEntry] = []
    seen: set[str] = set()
    for folder, source in ((user_models_dir(), "user"), (BUNDLED_MODELS, "bundled")):
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if path.name in seen:
                continue
            seen.add(path.name)
            note = _hiding_note(path.name) if source == "user" and (BUNDLED_MODELS / path.name).is_dir() else None
            try:
                entries.append(ModelEntry(path.name, path, source, open_model(path), note=note))
            except ModelError as error:
                entries.append(ModelEntry(path.name, path, source, None, str(error), note))
    return entries


def remove_model(name: str) -> Path:
    """Delete the user model `name`; bundled models cannot be removed."""
    path = user_models_dir() / validate_name(name)
    if not path.is_dir():
        if (BUNDLED_MODELS / name).is_dir():
            raise ModelError(f"{name!r} is a bundled model and cannot be removed")
        raise ModelError(f"unknown model {name!r}: not in {user_models_dir()}")
    shutil.rmtree(path)
    return path
