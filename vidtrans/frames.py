"""Frames as they cross module boundaries: RGB uint8 pixels with their timing and an opaque payload.

A `Frame` is one picture from a source (a decoded video frame, an image file); a `FrameBatch` is several
same-sized frames stacked into one (N, H, W, 3) array, the unit the translator works on. Timing is the
presentation timestamp in the stream's time base (None for still images); the payload is whatever the
source wants to hand to its sink (an output path, the original pixels for a side-by-side view).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from vidtrans.errors import InputError


def check_rgb(pixels: np.ndarray, *, batched: bool) -> None:
    """Raise a ValueError unless `pixels` is RGB uint8, (H, W, 3) or with `batched` (N, H, W, 3)."""
    ndim = 4 if batched else 3
    shape = "(N, H, W, 3)" if batched else "(H, W, 3)"
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != ndim \
            or pixels.shape[-1] != 3:
        got = f"{pixels.dtype} {pixels.shape}" if isinstance(pixels, np.ndarray) else type(pixels).__name__
        raise ValueError(f"expected RGB uint8 {shape} pixels; got {got}")
    if min(pixels.shape[:-1]) < 1:
        raise ValueError(f"expected a non-empty image; got shape {pixels.shape}")


def check_min_size(name: object, size: tuple[int, int], minimum: int) -> None:
    """Raise an InputError naming `name` when a frame of `size` (width, height) is smaller than the model
    takes (`minimum` pixels on each side, the generator config's `min_size`)."""
    if min(size) < minimum:
        raise InputError(f"{name}: {size[0]}x{size[1]} is too small for this model (it needs at least {minimum} "
                         "pixels on each side)")


def _check_time_base(time_base: Fraction | None) -> None:
    if time_base is not None and (not isinstance(time_base, Fraction) or time_base <= 0):
        raise ValueError(f"time_base must be a positive Fraction or None; got {time_base!r}")


@dataclass(frozen=True)
class Frame:
    """One RGB uint8 (H, W, 3) picture with its index in the source, timing and payload."""

    pixels: np.ndarray
    index: int
    pts: int | None = None
    """Presentation timestamp in `time_base` units (None for still images)."""
    time_base: Fraction | None = None
    duration: int | None = None
    """How long the frame is shown, in `time_base` units (None when unknown)."""
    payload: Any = None

    def __post_init__(self) -> None:
        check_rgb(self.pixels, batched=False)
        _check_time_base(self.time_base)
        if self.pts is not None and self.time_base is None:
            raise ValueError("a frame with a pts needs a time_base")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.pixels.shape[1], self.pixels.shape[0]


@dataclass(frozen=True)
class FrameBatch:
    """N same-sized frames: pixels (N, H, W, 3) uint8 RGB, C-contiguous, with per-frame timing and payloads.

    All frames share one time base (they come from one stream); `pts`, `durations`, `indices` and
    `payloads` have one entry per frame.
    """

    pixels: np.ndarray
    indices: tuple[int, ...]
    pts: tuple[int | None, ...]
    time_base: Fraction | None
    durations: tuple[int | None, ...]
    payloads: tuple[Any, ...]

    def __post_init__(self) -> None:
        check_rgb(self.pixels, batched=True)
        if not self.pixels.flags.c_contiguous:
            raise ValueError("FrameBatch pixels must be C-contiguous")
        n = self.pixels.shape[0]
        for name in ("indices", "pts", "durations", "payloads"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"FrameBatch.{name} has {len(getattr(self, name))} entries for {n} frames")
        _check_time_base(self.time_base)
        if self.time_base is None and any(p is not None for p in self.pts):
            raise ValueError("a FrameBatch with timestamps needs a time_base")

    def __len__(self) -> int:
        return self.pixels.shape[0]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of every frame."""
        return self.pixels.shape[2], self.pixels.shape[1]

    @classmethod
    def stack(cls, frames: Sequence[Frame], *,
              allocate: Callable[[tuple[int, ...]], np.ndarray] = lambda shape: np.empty(shape, np.uint8),
              ) -> FrameBatch:
        """Stack same-sized frames of one time base; `allocate(shape)` provides the (N, H, W, 3) buffer."""
        if not frames:
            raise ValueError("cannot stack zero frames")
        first = frames[0]
        for frame in frames[1:]:
            if frame.pixels.shape != first.pixels.shape or frame.time_base != first.time_base:
                raise ValueError(f"frames {first.index} and {frame.index} differ in size or time base")
        pixels = allocate((len(frames), *first.pixels.shape))
        for slot, frame in zip(pixels, frames):
            slot[...] = frame.pixels
        return cls(pixels=pixels, indices=tuple(f.index for f in frames), pts=tuple(f.pts for f in frames),
                   time_base=first.time_base, durations=tuple(f.duration for f in frames),
                   payloads=tuple(f.payload for f in frames))

    def frames(self, pixels: np.ndarray | None = None) -> list[Frame]:
        """Split back into frames, optionally with other (N, H', W', 3) pixels (a translation of these)."""
        pixels = self.pixels if pixels is None else pixels
        if pixels.shape[0] != len(self):
            raise ValueError(f"expected {len(self)} frames of pixels; got {pixels.shape[0]}")
        return [Frame(pixels=p, index=i, pts=t, time_base=self.time_base, duration=d, payload=x)
                for p, i, t, d, x in zip(pixels, self.indices, self.pts, self.durations, self.payloads)]
