"""Checkpoints: complete training state in one file, written atomically, read without unpickling code.

A checkpoint holds only tensors and plain containers, numbers and strings (the config as a dict, RNG
states as tensors, image pools as tensor stacks), so it loads with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vidtrans.errors import InputError, VidtransError
from vidtrans.fsutil import atomic_path
from vidtrans.modeldir import check_finite
from vidtrans.safeload import load_weights_only

FORMAT = 1
LATEST = "latest.pt"
_EPOCH_FILE = re.compile(r"^epoch_(\d+)\.pt$")
_KEYS = ("config", "step", "epoch", "samples_in_epoch", "model", "ranks", "skipped")


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


def checkpoint_files(folder: Path) -> list[Path]:
    """The checkpoints in `folder`, newest first: latest.pt, then the kept epoch_*.pt by epoch, last first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    epochs = sorted(((int(m.group(1)), p) for p in folder.iterdir() if (m := _EPOCH_FILE.match(p.name))),
                    reverse=True)
    latest = [folder / LATEST] if (folder / LATEST).is_file() else []
    return latest + [path for _, path in epochs]


def load_resumable(path: Path) -> dict[str, Any]:
    """`load_checkpoint`, also checking that the state is complete and its networks' weights are finite."""
    state = load_checkpoint(path)
    missing = [key for key in _KEYS if key not in state]
    networks = state.get("model", {}).get("networks") if isinstance(state.get("model"), dict) else None
    if missing or not isinstance(networks, dict):
        raise InputError(f"{path}: an incomplete checkpoint (missing: {', '.join(missing) or 'model.networks'})")
    for role, weights in networks.items():
        check_finite(weights, source=f"{path} ({role})")
    return state


@dataclass(frozen=True)
class ResumePoint:
    """The checkpoint a run continues from, and why each newer one could not be used (one line each)."""

    path: Path
    state: dict[str, Any]
    skipped: tuple[str, ...] = ()


def find_resume_point(folder: Path) -> ResumePoint | None:
    """The newest checkpoint in `folder` that loads, is complete and holds finite weights.

    None when there is no checkpoint at all; an InputError naming each file and its problem when there are
    checkpoints and none can be used (the run must then be restarted on purpose, never silently).
    """
    files = checkpoint_files(folder)
    latest = Path(folder) / LATEST
    skipped = [f"{latest}: missing"] if files and latest not in files else []
    for path in files:
        try:
            return ResumePoint(path, load_resumable(path), tuple(skipped))
        except VidtransError as error:
            skipped.append(str(error))
    if not files:
        return None
    reasons = "; ".join(reason.replace(f"{folder}{os.sep}", "") for reason in skipped)
    raise InputError(f"{folder}: no checkpoint can be resumed from ({reasons}); pass --restart to start the run "
                     "again from step 0, replacing them")


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
