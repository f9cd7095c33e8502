"""Placing an item's label files in OUTPUT: copied byte for byte, or hard-linked with `--link-labels`."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from vidtrans.console import warn
from vidtrans.errors import InputError
from vidtrans.fsutil import atomic_path

_CANNOT_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES}
_warned_link = False


def place_label(source: Path, target: Path, *, link: bool = False) -> None:
    """Copy (or hard-link) `source` to `target`; `target` appears only once complete.

    A hard link falls back to a copy (with one warning) where the file system cannot link, e.g. across
    devices. Raises InputError naming the file when it cannot be read or written.
    """
    global _warned_link
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if link and target.exists() and os.path.samefile(source, target):
            return
        with atomic_path(target) as temporary:
            if link:
                try:
                    os.link(source, temporary)
                    return
                except OSError as error:
                    if error.errno not in _CANNOT_LINK:
                        raise
                    if not _warned_link:
                        _warned_link = True
                        warn(f"cannot hard-link label files into {target.parent} ({error.strerror}); copying them")
            shutil.copyfile(source, temporary)
    except OSError as error:
        raise InputError(f"{source}: cannot place label file at {target} ({error.strerror or error})") from None
