"""Frame sinks for `convert`: a video file, or image files (one, or a folder of them).

A sink receives each source batch with its translation (see `vidtrans.pipeline.Sink`) and writes the
composed frames: translated, resized back to the input's size with `keep_size`, and with `side_by_side`
placed to the right of the frame it was translated from.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np

from vidtrans.errors import InputError, OutputError
from vidtrans.frames import Frame, FrameBatch
from vidtrans.images import encode_image
from vidtrans.resize import resize_rgb
from vidtrans.sources import Payload, coded
from vidtrans.video import Colour, EncodeOptions, VideoWriter, WriterReport


class Composer:
    """Build the written frame from a source frame and its translation."""

    def __init__(self, *, keep_size: bool = False, side_by_side: bool = False) -> None:
        self.keep_size = keep_size
        self.side_by_side = side_by_side

    def __call__(self, source: np.ndarray, translated: np.ndarray, payload: Payload) -> np.ndarray:
        out = resize_rgb(translated, payload.original_size) if self.keep_size else translated
        if not self.side_by_side:
            return out
        left = payload.original if self.keep_size and payload.original is not None else source
        return np.concatenate([left, out], axis=1)


class VideoSink:
    """Write composed frames into a video file, with the source's timestamps, rotation and colour.

    The writer opens at the first frame, whose size fixes the video's; a frame of another size (a folder
    of mixed images) is an InputError naming it.
    """

    def __init__(self, path: Path, *, frame_rate: Fraction | None, options: EncodeOptions, composer: Composer,
                 colour: Colour | None = None, rotation: int = 0, companion: Path | None = None) -> None:
        self.path = path
        self.frame_rate = frame_rate
        self.options = options
        self.composer = composer
        self.colour = colour
        self.rotation = rotation
        self.companion = companion
        self.writer: VideoWriter | None = None

    def __call__(self, batch: FrameBatch, translated: np.ndarray) -> None:
        pictures: list[tuple[np.ndarray, int, int | None]] = []
        for source, frame in zip(batch.pixels, batch.frames(translated)):
            pixels = coded(self.composer(source, frame.pixels, frame.payload), self.rotation)
            height, width = pixels.shape[:2]
            if frame.pts is None or frame.time_base is None:
                raise ValueError(f"{frame.payload.name}: a video frame needs a pts and time base")
            writer = self.writer
            if writer is None:
                writer = self.writer = VideoWriter(
                    self.path, width=width, height=height, time_base=frame.time_base, frame_rate=self.frame_rate,
                    options=self.options, colour=self.colour, rotation=self.rotation, companion=self.companion)
            elif (width, height) != (writer.width, writer.height):
                raise InputError(f"{frame.payload.name}: is {width}x{height} but the video is "
                                 f"{writer.width}x{writer.height}; a video has one size "
                                 "(pass --size WxH to resize every frame)")
            pictures.append((pixels, frame.pts, frame.duration))
        if self.writer is not None:
            self.writer.write_many(pictures)

    def close(self) -> WriterReport | None:
        """Finish the file; None when no frame came."""
        return self.writer.close() if self.writer is not None else None

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()


class ImageSink:
    """Write each composed frame as an image file at `target(frame)` (folders are created)."""

    def __init__(self, target: Callable[[Frame], Path], *, composer: Composer, quality: int = 95) -> None:
        self.target = target
        self.composer = composer
        self.quality = quality
        self.written = 0
        self._sizes: set[tuple[int, int]] = set()

    @property
    def size(self) -> tuple[int, int] | None:
        """(width, height) of the images written, when they all have one size."""
        return next(iter(self._sizes)) if len(self._sizes) == 1 else None

    def __call__(self, batch: FrameBatch, translated: np.ndarray) -> None:
        for source, frame in zip(batch.pixels, batch.frames(translated)):
            path = self.target(frame)
            pixels = self.composer(source, frame.pixels, frame.payload)
            data = encode_image(pixels, path.suffix, quality=self.quality)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            except OSError as error:
                raise OutputError(f"{path}: cannot write ({error.strerror or error})") from None
            self.written += 1
            self._sizes.add((pixels.shape[1], pixels.shape[0]))
