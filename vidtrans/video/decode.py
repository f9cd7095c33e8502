"""Decoding a video to RGB uint8 frames with their timestamps, in order, with threaded decoding.

Damaged files are read as far as they go: packets the decoder rejects are skipped and counted, a
container that ends early stops the stream, and `DecodeStats.bad_frames` says how many frames were
lost (compared with the container's frame count when it records one). Each frame's index is its place on
the stream's timeline, found from its timestamp (`vidtrans.video.timeline`), so a lost frame never shifts
the indices of the frames after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from pathlib import Path

import av
import numpy as np

from vidtrans.frames import Frame
from vidtrans.video.probe import VideoInfo, open_input, probe, video_stream
from vidtrans.video.timeline import FrameTimeline, read_timeline


@dataclass
class DecodeStats:
    """What happened while decoding (filled in as frames are read)."""

    expected: int | None
    """The container's frame count, when it records one."""
    expected_end: float | None = None
    """Where the stream says it ends (seconds), when it says so."""
    rate: Fraction | None = None
    decoded: int = 0
    """Frames decoded and placed on the timeline."""
    decoded_end: float = 0.0
    """Where the last frame read so far ends (seconds)."""
    errors: int = 0
    """Packets the decoder rejected."""
    unplaced: int = 0
    """Decoded frames whose timestamp matches no frame of the timeline (left out)."""
    stopped_early: str | None = None
    """Why reading stopped before the end of the file, if it did."""

    @property
    def bad_frames(self) -> int:
        """Frames that could not be decoded: the shortfall against the frame count (or, without one, against
        the stream's recorded end at the average rate), and at least the number of decoder errors."""
        if self.expected:
            shortfall = self.expected - self.decoded
        elif self.expected_end is not None and self.rate:
            shortfall = max(0, round((self.expected_end - self.decoded_end) * self.rate))
        else:
            shortfall = 0
        return max(shortfall, self.errors + self.unplaced, 1 if self.stopped_early and not shortfall else 0)


class VideoReader:
    """Iterate over the frames of a video file's first video stream as `Frame`s (RGB, timing, no payload).

    Timestamps are the stream's own (pts in the stream's time base) and indices come from them (see
    `timeline`); in a stream without timestamps a frame is placed just after its predecessor. Each
    frame's duration runs to the next frame's pts; the last one's comes from the stream's end, the
    packet, or the average rate.
    """

    def __init__(self, path: Path, *, info: VideoInfo | None = None) -> None:
        self.path = Path(path)
        self.info = info or probe(self.path)
        info = self.info
        end = info.start_time + info.stream_duration if info.stream_duration else None
        self.stats = DecodeStats(expected=info.frames, expected_end=end, rate=info.average_rate)
        self._stream_end: int | None = None

    @cached_property
    def timeline(self) -> FrameTimeline:
        """Where each frame of the stream sits (read from the container's packets on first use)."""
        return read_timeline(self.path)

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def frames(self, *, every: int = 1) -> Iterator[Frame]:
        """The frames whose index is a multiple of `every` (the others are decoded but not converted)."""
        if every < 1:
            raise ValueError(f"every must be >= 1; got {every}")
        colour = self.info.colour
        for index, frame, pts, duration in self._decoded():
            self.stats.decoded_end = float((pts + duration) * self.info.time_base)
            if index % every:
                continue
            rgb = frame.to_ndarray(format="rgb24", src_colorspace=colour.sws_matrix,
                                   src_color_range=colour.sws_range, dst_color_range="JPEG")
            yield Frame(pixels=rgb, index=index, pts=pts, time_base=self.info.time_base, duration=duration)

    def _decoded(self) -> Iterator[tuple[int, av.VideoFrame, int, int]]:
        """(index, decoded frame, pts, duration) in presentation order, one frame of look-ahead for durations."""
        held: tuple[int, av.VideoFrame, int] | None = None
        for index, frame in self._placed():
            pts = frame.pts
            if held is not None:
                previous_index, previous, previous_pts = held
                if pts is None or pts <= previous_pts:
                    pts = previous_pts + self._fallback_duration(previous)
                yield previous_index, previous, previous_pts, pts - previous_pts
            elif pts is None:
                pts = 0
            held = (index, frame, pts)
        if held is not None:
            last_index, last, last_pts = held
            yield last_index, last, last_pts, self._last_duration(last, last_pts)

    def _placed(self) -> Iterator[tuple[int, av.VideoFrame]]:
        """Decoded frames with their index on the timeline; a frame that matches no free place is left out."""
        timeline = self.timeline
        last = -1
        for frame in self._raw_frames():
            if timeline.exact:
                index = timeline.index_of(frame.pts)
            else:
                index = None if self.stats.errors or self.stats.stopped_early else last + 1
            if index is None or index <= last:
                self.stats.unplaced += 1
                continue
            last = index
            self.stats.decoded += 1
            yield index, frame

    def _raw_frames(self) -> Iterator[av.VideoFrame]:
        with open_input(self.path) as container:
            stream = video_stream(container, self.path)
            stream.thread_type = "AUTO"
            if stream.duration:
                self._stream_end = (stream.start_time or 0) + stream.duration
            try:
                for packet in container.demux(stream):
                    yield from self._decode_packet(stream, packet)
            except av.FFmpegError as error:
                self.stats.stopped_early = str(error)
                yield from self._decode_packet(stream, None)

    def _decode_packet(self, stream: av.video.stream.VideoStream,
                       packet: av.Packet | None) -> Iterator[av.VideoFrame]:
        try:
            frames = stream.decode(packet)
        except av.EOFError:
            return
        except av.FFmpegError:
            self.stats.errors += 1
            return
        yield from frames

    def _fallback_duration(self, frame: av.VideoFrame) -> int:
        """A frame's duration when the next frame's pts cannot tell: the packet's, else one frame at the rate."""
        if frame.duration and frame.duration > 0:
            return int(frame.duration)
        rate = self.info.average_rate
        return max(1, round(1 / (rate * self.info.time_base))) if rate else 1

    def _last_duration(self, frame: av.VideoFrame, pts: int) -> int:
        """The last frame lasts until the end of the stream when the container records it, as MP4 does."""
        if self._stream_end is not None and self._stream_end > pts:
            return self._stream_end - pts
        return self._fallback_duration(frame)


def read_frames(path: Path, *, every: int = 1, max_frames: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (frame index, RGB uint8 (H, W, 3)) for every `every`-th frame of a video, at most `max_frames`.

    Frames that are skipped are decoded but not converted to RGB. Raises InputError for a missing file
    or one without a video stream.
    """
    if max_frames is not None and max_frames < 0:
        raise ValueError(f"max_frames must be >= 0; got {max_frames}")
    if max_frames == 0:
        return
    produced = 0
    for frame in VideoReader(path).frames(every=every):
        yield frame.index, frame.pixels
        produced += 1
        if max_frames is not None and produced >= max_frames:
            return
