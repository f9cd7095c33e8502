"""Resizing frames before translation (`--size`, `--short-side`, `--scale`) and back (`--keep-size`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np

from vidtrans.errors import UsageError


def parse_size(text: str) -> tuple[int, int]:
    """`"1024x512"` -> (1024, 512); a UsageError for anything else."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match or min(int(match.group(1)), int(match.group(2))) < 1:
        raise UsageError(f"a size must be WIDTHxHEIGHT with positive integers, e.g. 1024x512; got {text!r}")
    return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True)
class ResizeSpec:
    """At most one of: an exact `size` (width, height), a `short_side` length, or a `scale` factor.

    `short_side` and `scale` keep the aspect ratio, rounding each side to the nearest pixel.
    """

    size: tuple[int, int] | None = None
    short_side: int | None = None
    scale: float | None = None

    def __post_init__(self) -> None:
        given = [name for name in ("size", "short_side", "scale") if getattr(self, name) is not None]
        if len(given) > 1:
            raise UsageError(f"give at most one of --size, --short-side and --scale; got {' and '.join(given)}")
        if self.size is not None and (len(self.size) != 2 or min(self.size) < 1):
            raise UsageError(f"--size must be two positive integers; got {self.size!r}")
        if self.short_side is not None and self.short_side < 1:
            raise UsageError(f"--short-side must be a positive integer; got {self.short_side!r}")
        if self.scale is not None and not 0 < self.scale <= 16:
            raise UsageError(f"--scale must be in (0, 16]; got {self.scale!r}")

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.size, self.short_side, self.scale))

    def target(self, width: int, height: int) -> tuple[int, int]:
        """The (width, height) a width x height frame is resized to."""
        if self.size is not None:
            return self.size
        if self.short_side is not None:
            factor = self.short_side / min(width, height)
        elif self.scale is not None:
            factor = self.scale
        else:
            return width, height
        return max(1, round(width * factor)), max(1, round(height * factor))


def resize_rgb(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an RGB uint8 (H, W, 3) image to `size` (width, height): area averaging when shrinking,
    bicubic when enlarging; returned as is when it already has that size."""
    height, width = pixels.shape[:2]
    if (width, height) == tuple(size):
        return pixels
    shrinking = size[0] * size[1] < width * height
    return cv2.resize(pixels, tuple(size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
