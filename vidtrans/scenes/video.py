"""Writing rendered scene clips as H.264 MP4 files at a constant frame rate."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import numpy as np

from vidtrans.fsutil import atomic_path
from vidtrans.video.encode import EncodeOptions, VideoWriter


class ClipWriter:
    """Appends frames, one per frame interval, to a clip opened by `open_clip`."""

    def __init__(self, writer: VideoWriter) -> None:
        self._writer = writer
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame of the clip's size."""
        self._writer.write(rgb, pts=self.frames, duration=1)
        self.frames += 1


@contextmanager
def open_clip(path: Path, *, width: int, height: int, fps: float, crf: int = 18) -> Iterator[ClipWriter]:
    """Write an MP4 at `path`; the file appears only if the `with` block finishes without error."""
    rate = Fraction(fps).limit_denominator(1001)
    with atomic_path(Path(path)) as temporary, \
            VideoWriter(temporary, width=width, height=height, time_base=1 / rate, frame_rate=rate,
                        options=EncodeOptions(encoder="libx264", crf=crf, preset="veryfast")) as writer:
        yield ClipWriter(writer)
