"""Frame sources for `convert`: a video, one image, or a folder of images, as streams of `Frame`s.

Frames come out upright and at the size they are translated at: a video's display rotation is undone
(the sink redoes it), and an optional `ResizeSpec` is applied. `original` frames (before resizing) ride
along in the payload when a sink needs them (side-by-side at the original size).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from vidtrans.console import warn
from vidtrans.errors import InputError
from vidtrans.frames import Frame, check_min_size
from vidtrans.images import read_image
from vidtrans.resize import ResizeSpec, resize_rgb
from vidtrans.video import VideoReader


@dataclass(frozen=True)
class Payload:
    """What a convert source hands its sink with each frame."""

    name: str
    """The input's name: a video's file name, or an image's path relative to its folder."""
    original_size: tuple[int, int]
    """(width, height) of the upright frame before resizing."""
    original: np.ndarray | None = None
    """The upright frame before resizing, when the sink asked for it."""


def upright(pixels: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate a decoded frame by its display rotation (degrees counter-clockwise) so it stands upright."""
    return np.rot90(pixels, rotation // 90) if rotation else pixels


def coded(pixels: np.ndarray, rotation: int) -> np.ndarray:
    """Undo `upright`: back to the orientation the frame is stored in."""
    return np.rot90(pixels, -(rotation // 90)) if rotation else pixels


def _prepare(pixels: np.ndarray, name: str, resize: ResizeSpec, keep_original: bool) -> tuple[np.ndarray, Payload]:
    height, width = pixels.shape[:2]
    resized = resize_rgb(pixels, resize.target(width, height)) if resize.active else pixels
    return np.ascontiguousarray(resized), Payload(name, (width, height), pixels if keep_original else None)


def video_frames(reader: VideoReader, *, resize: ResizeSpec = ResizeSpec(),
                 keep_original: bool = False) -> Iterator[Frame]:
    """The frames of a video, upright and resized, with their timestamps."""
    rotation = reader.info.rotation
    name = reader.path.name
    for frame in reader:
        pixels, payload = _prepare(upright(frame.pixels, rotation), name, resize, keep_original)
        yield Frame(pixels=pixels, index=frame.index, pts=frame.pts, time_base=frame.time_base,
                    duration=frame.duration, payload=payload)


class ImageFrames:
    """Images (one file, or the files of a folder) as frames.

    An image that cannot be read, or is smaller than `min_size` after resizing, is skipped with a warning
    and counted in `bad`; a single image (`skip_bad=False`) raises its InputError instead. Frames are
    numbered in order and, for a video output, timed at `fps` (one tick of 1/fps each).
    """

    def __init__(self, paths: list[Path], root: Path, *, fps: float = 30.0, resize: ResizeSpec = ResizeSpec(),
                 keep_original: bool = False, min_size: int = 1, skip_bad: bool = True) -> None:
        self.paths = paths
        self.root = root
        self.time_base = 1 / Fraction(fps).limit_denominator(1001)
        self.resize = resize
        self.keep_original = keep_original
        self.min_size = min_size
        self.skip_bad = skip_bad
        self.bad: list[Path] = []

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        for path in self.paths:
            try:
                pixels, payload = _prepare(read_image(path), path.relative_to(self.root).as_posix(), self.resize,
                                           self.keep_original)
                check_min_size(path, (pixels.shape[1], pixels.shape[0]), self.min_size)
            except InputError as error:
                if not self.skip_bad:
                    raise
                warn(f"skipping {error}")
                self.bad.append(path)
                continue
            yield Frame(pixels=pixels, index=index, pts=index, time_base=self.time_base, duration=1,
                        payload=payload)
            index += 1
