"""Safe file writing: temporary files renamed into place only once complete, exclusive claims on output
names, and content hashes.

Names vidtrans puts beside an output `NAME` (hidden, within the 255-byte file-name limit, the stem
shortened when needed): `.STEM.partial-PID-TOKEN.SUFFIX` while it is written, and `.NAME.lock` while a run
claims it. The PID in a partial name lets a later run remove what a dead process left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from vidtrans.errors import OutputError, VidtransError

NAME_MAX = 255
"""Bytes in a file name on the usual file systems (ext4, XFS, btrfs, tmpfs, APFS, NTFS)."""
_PARTIAL = ".partial-"
_TOKEN_ROOM = 20
"""Bytes kept for `PID-TOKEN` (a PID of up to 11 digits, a dash, 8 hex digits), so a path's partial names
share one shortened stem whatever the PID."""
_SUFFIX_MAX = 16
"""A longer suffix is no format extension (a folder named `shots.from-the-old-camera-2019`), so it is not kept."""


def _shortened(text: str, room: int) -> str:
    """`text` cut to at most `room` bytes of UTF-8, at a character boundary."""
    return text.encode("utf-8")[:max(room, 1)].decode("utf-8", "ignore")


def _stem_and_suffix(path: Path) -> tuple[str, str]:
    """The parts of a partial name: the stem, shortened to fit, and the suffix (formats follow it)."""
    suffix = path.suffix if len(path.suffix.encode("utf-8")) <= _SUFFIX_MAX else ""
    stem = path.name[: len(path.name) - len(suffix)]
    room = NAME_MAX - len(f".{_PARTIAL}{suffix}".encode("utf-8")) - _TOKEN_ROOM
    return _shortened(stem, room), suffix


def temporary_sibling(path: Path) -> Path:
    """A hidden, unique path beside `path` with the same suffix (so formats chosen by extension still work)."""
    stem, suffix = _stem_and_suffix(path)
    return path.with_name(f".{stem}{_PARTIAL}{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def lock_sibling(path: Path) -> Path:
    """The hidden lock file that claims `path` (see `claim_output`)."""
    return path.with_name(f".{_shortened(path.name, NAME_MAX - len('..lock'))}.lock")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid > 0
    return True


def remove_stale_partials(path: Path) -> int:
    """Delete the partial files and folders of `path` that processes no longer running left behind."""
    stem, suffix = _stem_and_suffix(path)
    pattern = re.compile(rf"\.{re.escape(stem)}{re.escape(_PARTIAL)}(\d+)-[0-9a-f]{{8}}{re.escape(suffix)}")
    removed = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            match = pattern.fullmatch(entry.name)
            if match and not _process_alive(int(match.group(1))):
                _remove(Path(entry.path))
                removed += 1
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _check_folder(path: Path) -> None:
    if not path.parent.is_dir():
        raise OutputError(f"{path}: the folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise OutputError(f"{path}: the folder {path.parent} is not writable")


def check_writable_target(path: Path, *, overwrite: bool) -> None:
    """Refuse to replace an existing file (or a symbolic link, even a dangling one) without `overwrite`, and
    fail early when the folder is missing."""
    if os.path.lexists(path) and not overwrite:
        raise OutputError(f"{path}: already exists (pass --overwrite to replace it)")
    _check_folder(path)


def _same_file(fd: int, path: Path) -> bool:
    try:
        here, there = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


@contextlib.contextmanager
def claim_output(path: Path) -> Iterator[None]:
    """Hold the name `path` for this process until the block ends, so two runs never write one output.

    The claim is an exclusive lock (flock) on `.NAME.lock` beside `path`, which holds the owner's PID; a
    second claim fails at once with an OutputError naming that PID. A process that dies loses its lock, so a
    lock file it left behind is simply taken over. Partial files dead processes left for `path` are removed
    once the claim is held.
    """
    path = Path(path)
    _check_folder(path)
    lock = lock_sibling(path)
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as error:
            raise OutputError(f"{path}: cannot claim it ({error.strerror or error})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            raise OutputError(f"{path}: another vidtrans process{f' (PID {owner})' if owner.isdigit() else ''} "
                              "is writing this output; wait for it to finish, or choose another output") from None
        if _same_file(fd, lock):
            break
        os.close(fd)  # its owner removed the file as we locked it: claim the new one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        remove_stale_partials(path)
        yield
    finally:
        if _same_file(fd, lock):
            lock.unlink(missing_ok=True)
        os.close(fd)


_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


@functools.cache
def _libc_renameat2() -> Callable[..., int] | None:
    return getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)


def _renameat2(source: Path, target: Path) -> bool:
    """rename(2) that fails with FileExistsError when `target` exists; False where the system lacks it."""
    function = _libc_renameat2()
    if function is None:
        return False
    if function(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(target))


def rename_no_replace(source: Path, target: Path) -> None:
    """Move `source` (a file or folder) to `target` atomically, raising FileExistsError if `target` exists.

    Uses renameat2(RENAME_NOREPLACE) (Linux); where a file system lacks it, a hard link for files, and for
    folders a check just before the rename.
    """
    if _renameat2(source, target):
        return
    if source.is_dir():
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target))
        os.rename(source, target)
        return
    os.link(source, target)
    os.unlink(source)


def _replace(source: Path, target: Path) -> None:
    """Move `source` to `target`, replacing what is there; a folder is swapped in, the old one then deleted."""
    if source.is_dir() and os.path.lexists(target):
        retired = temporary_sibling(target)
        os.replace(target, retired)
        os.replace(source, target)
        _remove(retired)
    else:
        os.replace(source, target)


_WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
"""Errors only writing raises (a full disk, a quota, a file too big for the file system)."""


@contextlib.contextmanager
def named_errors(temporary: Path, name: Path | str) -> Iterator[None]:
    """Make VidtransErrors raised in the block name `name` where they name `temporary` (a partial file, a
    spooled input), so messages speak of the user's file."""
    try:
        yield
    except VidtransError as error:
        message = str(error)
        if str(temporary) not in message:
            raise
        raise type(error)(message.replace(str(temporary), str(name))) from None


@contextlib.contextmanager
def _write_errors(temporary: Path, path: Path) -> Iterator[None]:
    """An OSError writing `temporary` (or a full disk, wherever) becomes an OutputError naming `path`."""
    try:
        yield
    except OSError as error:
        if error.errno not in _WRITE_ERRORS and not str(error.filename or "").startswith(str(temporary)):
            raise
        raise OutputError(f"{path}: cannot write ({error.strerror or error})") from None


@contextlib.contextmanager
def atomic_path(path: Path, *, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path (file or folder) to write; on success it is renamed to `path`, on any error it
    is removed.

    With `replace` False an existing `path` is never replaced, even one that appeared while writing: that is
    an OutputError. Errors that name the temporary path name `path` instead.
    """
    path = Path(path)
    temporary = temporary_sibling(path)
    try:
        with named_errors(temporary, path), _write_errors(temporary, path):
            yield temporary
            if not os.path.lexists(temporary):
                raise OutputError(f"{path}: nothing was written")
            if replace:
                _replace(temporary, path)
            else:
                try:
                    rename_no_replace(temporary, path)
                except FileExistsError:
                    raise OutputError(f"{path}: appeared while vidtrans was writing it; not replacing it "
                                      "(pass --overwrite to replace it)") from None
    except BaseException:
        _remove(temporary)
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
