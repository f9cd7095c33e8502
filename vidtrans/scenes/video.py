"""Encoding RGB frames as H.264 (yuv420p) MP4 clips with PyAV."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..fsutil import atomic_path


class ClipWriter:
    """Appends frames to an open H.264 stream (made by open_clip)."""

    def __init__(self, container: av.container.OutputContainer, stream: av.video.stream.VideoStream,
                 rate: Fraction) -> None:
        self._container, self._stream, self._rate = container, stream, rate
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame of the clip's size."""
        shape = (self._stream.height, self._stream.width, 3)
        if rgb.shape != shape or rgb.dtype != np.uint8:
            raise ValueError(f"frame must be a {shape} uint8 array, got {rgb.shape} {rgb.dtype}")
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = self.frames
        frame.time_base = 1 / self._rate
        self._container.mux(self._stream.encode(frame))
        self.frames += 1


@contextmanager
def open_clip(path: Path, *, width: int, height: int, fps: float, crf: int = 18) -> Iterator[ClipWriter]:
    """Write an MP4 at `path`; the file appears only if the `with` block finishes without error."""
    if width % 2 or height % 2:
        raise ValueError(f"H.264 yuv420p needs an even frame size, got {width}x{height}")
    rate = Fraction(fps).limit_denominator(1001)
    with atomic_path(path) as temporary, av.open(str(temporary), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        writer = ClipWriter(container, stream, rate)
        yield writer
        container.mux(stream.encode(None))
