"""Inputs that can be read only once: standard input (`-`) and named pipes.

Media are read more than once (probe, timestamps, frames, audio), so such an input is first copied into a
temporary file, and errors that name the copy name the input.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from vidtrans.errors import InputError
from vidtrans.fsutil import named_errors

STDIN = "-"
"""The input name that means standard input."""


def input_name(path: Path | str) -> str:
    """How messages name an input: `<stdin>` for `-`, else the path."""
    return "<stdin>" if str(path) == STDIN else str(path)


def is_pipe(path: Path | str) -> bool:
    """Whether `path` is `-` (standard input) or something that exists but is neither a file nor a folder
    (a named pipe, a character device): it can be read only once."""
    path = Path(path)
    return str(path) == STDIN or (path.exists() and not path.is_file() and not path.is_dir())


def _copy_pipe(path: Path, name: str, target: BinaryIO) -> None:
    try:
        source = sys.stdin.buffer if str(path) == STDIN else open(path, "rb")
    except OSError as error:
        raise InputError(f"{name}: cannot read ({error.strerror or error})") from None
    try:
        while chunk := source.read(1 << 20):
            view = memoryview(chunk)
            while view:  # unbuffered writes may be short; the next one then says why
                view = view[target.write(view):]
    except OSError as error:
        raise InputError(f"{name}: cannot copy it into {tempfile.gettempdir()} to read it "
                         f"({error.strerror or error}; set TMPDIR to a folder with room)") from None
    finally:
        if source is not sys.stdin.buffer:
            source.close()


@contextlib.contextmanager
def seekable_input(path: Path | str) -> Iterator[Path]:
    """`path` as a file that can be read more than once.

    A regular file or folder is yielded as it is. Standard input (`-`) or a named pipe is read once, into a
    temporary file in the temporary folder ($TMPDIR), which is yielded and removed at the end; errors that
    name that copy name the input.
    """
    path = Path(path)
    if not is_pipe(path):
        yield path
        return
    name = input_name(path)
    fd, copy = tempfile.mkstemp(prefix="vidtrans-input-")
    spool = Path(copy)
    try:
        with open(fd, "wb", buffering=0) as target:  # unbuffered: a full disk fails in the copy, not at close()
            _copy_pipe(path, name, target)
        with named_errors(spool, name):
            yield spool
    finally:
        spool.unlink(missing_ok=True)
