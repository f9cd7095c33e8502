"""Safe file writing: temporary files renamed into place only once complete, and content hashes."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from vidtrans.errors import OutputError


def temporary_sibling(path: Path) -> Path:
    """A hidden, unique path beside `path` with the same suffix (so formats chosen by extension still work)."""
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    return path.with_name(f".{path.stem}.partial-{token}{path.suffix}")


def temporaries_of(path: Path) -> list[Path]:
    """The temporary siblings of `path` (see `temporary_sibling`) that killed writers left behind.

    Delete them only once nothing else is writing `path`.
    """
    if not path.parent.is_dir():
        return []
    name = re.compile(rf"\.{re.escape(path.stem)}\.partial-\d+-[0-9a-f]{{8}}{re.escape(path.suffix)}")
    return sorted(p for p in path.parent.glob(f".{glob.escape(path.stem)}.partial-*")
                  if name.fullmatch(p.name) and p.is_file())


def check_writable_target(path: Path, *, overwrite: bool) -> None:
    """Refuse to replace an existing file without `overwrite`, and fail early when the folder is missing."""
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: already exists (pass --overwrite to replace it)")
    if not path.parent.is_dir():
        raise OutputError(f"{path}: the folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise OutputError(f"{path}: the folder {path.parent} is not writable")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed to `path`, on any error it is removed."""
    path = Path(path)
    temporary = temporary_sibling(path)
    try:
        yield temporary
        if not temporary.exists():
            raise OutputError(f"{path}: nothing was written")
        os.replace(temporary, path)
    except BaseException:
        if temporary.is_dir():
            shutil.rmtree(temporary, ignore_errors=True)
        else:
            temporary.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that the file appears only when complete."""
    with atomic_path(Path(path)) as temporary:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 `text` to `path` so that the file appears only when complete."""
    atomic_write_bytes(path, text.encode("utf-8"))


def find_files(folder: Path, accept: Callable[[Path], bool], *, recursive: bool = True) -> list[Path]:
    """Files under `folder` that `accept` takes, sorted by path; hidden files and folders are skipped."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        found += [Path(root) / f for f in files if not f.startswith(".") and accept(Path(f))]
    return sorted(found)


def folder_listing(path: Path, *, limit: int = 10) -> str:
    """The first names in a folder, for error messages: `a, b, c ...` or `nothing`."""
    names = sorted(p.name for p in Path(path).iterdir())
    return ", ".join(names[:limit]) + (" ..." if len(names) > limit else "") if names else "nothing"


def sha256_file(path: Path, *, chunk_size: int = 1 << 20) -> str:
    """The hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
