"""Checkpoints: complete training state in one file, written atomically, read without unpickling code.

A checkpoint holds only tensors and plain containers, numbers and strings (the config as a dict, RNG
states as tensors, image pools as tensor stacks), so it loads with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch

from vidtrans.errors import InputError
from vidtrans.fsutil import atomic_path
from vidtrans.safeload import load_weights_only

FORMAT = 1
LATEST = "latest.pt"


def epoch_name(epoch: int) -> str:
    """The file kept after `epoch` epochs when `--save-every` says so."""
    return f"epoch_{epoch:04d}.pt"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write `state` to `path` via a synced temporary file and a rename, so a kill never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:
            torch.save({"format": FORMAT, **state}, handle)
            handle.flush()
            os.fsync(handle.fileno())
    _fsync_dir(path.parent)


def keep_copy(source: Path, target: Path) -> None:
    """Keep `source` also as `target` (a hard link where possible, else a copy), atomically."""
    with atomic_path(target) as temporary:
        try:
            os.link(source, temporary)
        except OSError:
            shutil.copyfile(source, temporary)
    _fsync_dir(target.parent)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with `weights_only=True`; anything else is an InputError naming the file."""
    path = Path(path)
    state = load_weights_only(path, what="checkpoint", error=InputError)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InputError(f"{path}: not a vidtrans training checkpoint (format {FORMAT})")
    return state


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """The global torch RNG states this process draws from (CPU, and the device's CUDA generator)."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
