"""Reading `.pth` files from strangers: `torch.load(weights_only=True)` only, with one-line errors.

A file that would need arbitrary unpickling (custom classes, functions, anything but tensors and plain
containers) is refused before any of it runs; torch's own advice to retry with `weights_only=False` is never
passed on. When torch refuses a file, its pickles are read with `pickletools` (which only lists opcodes and
runs nothing) to tell a file that would run code, and which callables it names, from a damaged one.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import re
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import torch

from vidtrans.errors import InputError, ModelError

_REASON = re.compile(r"WeightsUnpickler error:\s*(.+?)(?:\.\s|\n|$)", re.S)
_STRING_OPS = frozenset({"UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "STRING", "BINSTRING",
                         "SHORT_BINSTRING"})
_MEMO_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_MEMO_PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_NO_PUSH_OPS = frozenset({"PROTO", "FRAME", "MEMOIZE", "STOP"}) | _MEMO_PUT_OPS
_LEGACY_PICKLES = 5  # torch's legacy format: magic number, protocol, system info, the object, storage keys


def _allowed_globals() -> frozenset[str]:
    """The globals torch's weights-only unpickler accepts (empty if this torch does not say)."""
    from torch import _weights_only_unpickler

    listing = getattr(_weights_only_unpickler, "_get_allowed_globals", None)
    return frozenset(listing()) if listing is not None else frozenset()


def _pickle_globals(stream: IO[bytes]) -> Iterator[str]:
    """`module.name` of each global one pickle in `stream` imports (GLOBAL, INST, STACK_GLOBAL), unexecuted."""
    recent: list[str | None] = [None, None]  # the last two values pushed, where they are strings
    memo: dict[int, str | None] = {}
    for opcode, arg, _ in pickletools.genops(stream):
        name = opcode.name
        if name in ("GLOBAL", "INST"):
            yield str(arg).replace(" ", ".", 1)
        elif name == "STACK_GLOBAL":
            yield f"{recent[-2]}.{recent[-1]}"
        elif name == "MEMOIZE":
            memo[len(memo)] = recent[-1]
        elif name in _MEMO_PUT_OPS:
            memo[int(arg)] = recent[-1]
        if name in _STRING_OPS:
            recent = [recent[-1], str(arg)]
        elif name in _MEMO_GET_OPS:
            recent = [recent[-1], memo.get(int(arg))]
        elif name not in _NO_PUSH_OPS:
            recent = [recent[-1], None]


def _pickles(path: Path) -> Iterator[IO[bytes]]:
    """The pickle streams of a torch file: `*.pkl` members of a zip archive, else the file itself."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if member.endswith(".pkl"):
                    yield io.BytesIO(archive.read(member))
        return
    with open(path, "rb") as handle:
        yield handle


def code_it_would_run(path: Path) -> list[str]:
    """The callables outside torch's weights-only set that unpickling `path` would import and run, sorted."""
    allowed = _allowed_globals()
    found: set[str] = set()
    try:
        for stream in _pickles(path):
            for _ in range(_LEGACY_PICKLES):
                try:
                    found.update(g for g in _pickle_globals(stream) if g not in allowed)
                except (ValueError, EOFError):  # the end of the pickles, or bytes that are not one
                    break
    except (OSError, zipfile.BadZipFile, EOFError):
        pass
    return sorted(found)


def _reason(error: pickle.UnpicklingError) -> str:
    match = _REASON.search(str(error))
    return " ".join(match.group(1).split()) if match else "damaged, or not a PyTorch file"


def load_weights_only(path: Path, *, what: str = "PyTorch file",
                      error: type[ModelError] | type[InputError] = ModelError) -> Any:
    """The object in `path`, loaded with `weights_only=True` onto the CPU; `error` (naming the file) otherwise."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such {what}")
    try:
        with warnings.catch_warnings():  # e.g. on pickle protocols; what matters is reported below, in one line
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as refused:
        code = code_it_would_run(path)
        if code:
            shown = ", ".join(code[:3]) + (f" and {len(code) - 3} more" if len(code) > 3 else "")
            raise error(f"{path}: refusing to load: unpickling this {what} would run code ({shown}); vidtrans "
                        "reads only tensors and plain containers") from None
        raise error(f"{path}: not a readable {what} ({_reason(refused)})") from None
    except OSError as failure:
        raise error(f"{path}: cannot read the {what} ({failure.strerror or failure})") from None
    except Exception as failure:  # noqa: BLE001 - torch reports damaged files with many exception types
        raise error(f"{path}: not a readable {what} ({type(failure).__name__}: {failure})") from None
