"""Writing files so that they appear under their final name only when complete."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path next to `final` (same suffix); on success it is renamed to `final`."""
    temporary = final.with_name(f".{final.stem}.{os.getpid()}.partial{final.suffix}")
    try:
        yield temporary
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)


def write_png(path: Path, image: np.ndarray) -> None:
    """Write an (H, W, 3) RGB or (H, W) single-channel uint8 image as PNG, atomically."""
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, data = cv2.imencode(".png", pixels)
    if not ok:
        raise RuntimeError(f"could not encode {path.name} as PNG")
    with atomic_path(path) as temporary:
        temporary.write_bytes(data.tobytes())
