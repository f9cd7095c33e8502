"""Reading `.pth` files from strangers: `torch.load(weights_only=True)` only, with one-line errors.

A file that would need arbitrary unpickling (custom classes, functions, anything but tensors and plain
containers) is refused before any of it runs; torch's own advice to retry with `weights_only=False` is never
passed on.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

from vidtrans.errors import InputError, ModelError

_REASON = re.compile(r"WeightsUnpickler error:\s*(.+?)(?:\.\s|\n|$)", re.S)


def _unpickling_reason(error: pickle.UnpicklingError) -> tuple[bool, str]:
    """(whether the file asks for objects outside the safe set, the reason torch gave) for a refused load."""
    match = _REASON.search(str(error))
    reason = " ".join(match.group(1).split()) if match else "unsupported content"
    return reason.startswith("Unsupported global"), reason


def load_weights_only(path: Path, *, what: str = "PyTorch file",
                      error: type[ModelError] | type[InputError] = ModelError) -> Any:
    """The object in `path`, loaded with `weights_only=True` onto the CPU; `error` (naming the file) otherwise."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such {what}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as refused:
        unsafe, reason = _unpickling_reason(refused)
        if unsafe:
            raise error(f"{path}: refusing to load: the {what} holds objects that need arbitrary unpickling, "
                        f"which could run code ({reason})") from None
        raise error(f"{path}: not a readable {what} ({reason})") from None
    except OSError as failure:
        raise error(f"{path}: cannot read the {what} ({failure.strerror or failure})") from None
    except Exception as failure:  # noqa: BLE001 - torch reports damaged files with many exception types
        raise error(f"{path}: not a readable {what} ({type(failure).__name__}: {failure})") from None
