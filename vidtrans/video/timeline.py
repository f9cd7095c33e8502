"""Which frame of a video a decoded picture is: frame identity from timestamps, never from decode order.

A packet that does not decode loses its own frame and must not shift the frames after it, so a decoded
frame is placed by its presentation timestamp against the stream's timeline, read from the container's
packets without decoding:

- frame-rate grid: when every timestamp sits within a quarter frame of `start + n / rate` (the stream's
  frame rate; `start` is its first timestamp), frame n is the one shown at that time. A slot without a
  packet is a frame the file has lost (or a variable-rate stream skipped).
- variable frame rate (timestamps off any grid): frame n is the n-th timestamp of the container, in
  presentation order.
- no timestamps at all (raw streams): frames are numbered in decode order (`exact` is False), and after
  a packet that does not decode the frames that follow cannot be told apart, so none is placed.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vidtrans.video.probe import open_input, video_stream


@dataclass(frozen=True)
class FrameTimeline:
    """The frames a video stream holds, as presentation timestamps in `time_base` units.

    `packets` counts the container's frame packets; `stamps` are their timestamps, sorted (empty for a
    stream without timestamps); `step` (time-base ticks per frame) is set when they sit on a frame-rate
    grid starting at `stamps[0]`.
    """

    time_base: Fraction
    packets: int
    stamps: tuple[int, ...] = ()
    step: Fraction | None = None

    @property
    def exact(self) -> bool:
        """Whether frames are identified by timestamp (False: by decode order, for streams without any)."""
        return bool(self.stamps)

    @property
    def frame_count(self) -> int:
        """Frames on the timeline: grid slots from the first to the last timestamp, else the packets."""
        if self.step is not None:
            return self._slot(self.stamps[-1]) + 1
        return self.packets

    @property
    def rate(self) -> float | None:
        """Frames per second: the grid's, else averaged over the timestamps (None when unknown)."""
        if self.step is not None:
            return float(1 / (self.step * self.time_base))
        if len(self.stamps) > 1:
            return float((len(self.stamps) - 1) / ((self.stamps[-1] - self.stamps[0]) * self.time_base))
        return None

    def _slot(self, pts: int) -> int:
        return round((pts - self.stamps[0]) / self.step)  # type: ignore[operator]

    def index_of(self, pts: int | None) -> int | None:
        """The index of the frame shown at `pts`, or None when no frame of the timeline is there."""
        if pts is None or not self.stamps:
            return None
        if self.step is not None:
            slot = self._slot(pts)
            on_grid = abs(pts - self.stamps[0] - slot * self.step) <= self.step / 4
            return slot if on_grid and 0 <= slot < self.frame_count else None
        position = bisect.bisect_left(self.stamps, pts)
        return position if position < len(self.stamps) and self.stamps[position] == pts else None

    def seconds(self, index: int) -> float:
        """When frame `index` is shown, in seconds from the stream's first frame."""
        if self.step is not None:
            return float(index * self.step * self.time_base)
        return float((self.stamps[index] - self.stamps[0]) * self.time_base)


def grid_step(stamps: list[int], rates: list[Fraction], time_base: Fraction) -> Fraction | None:
    """The ticks per frame of the first rate whose grid holds every timestamp (one per slot) and whose step
    is the timestamps' usual spacing (a rate far too high, such as 90000, would make every tick a slot), or
    None."""
    if len(stamps) < 2:
        return None
    spacing = sorted(b - a for a, b in zip(stamps, stamps[1:]))[(len(stamps) - 1) // 2]
    for rate in rates:
        step = 1 / (rate * time_base)
        ticks = float(step)
        if not 0.75 * ticks <= spacing <= 1.5 * ticks:
            continue
        slots = [round((s - stamps[0]) / ticks) for s in stamps]
        on_grid = all(abs(s - stamps[0] - k * ticks) <= ticks / 4 for s, k in zip(stamps, slots))
        if on_grid and len(set(slots)) == len(slots):
            return step
    return None


def read_timeline(path: Path) -> FrameTimeline:
    """The timeline of the first video stream of `path`, from its packets (no decoding).

    A container damaged part-way is read as far as it goes. Raises InputError for a file that cannot be
    opened or has no video stream.
    """
    with open_input(path) as container:
        stream = video_stream(container, path)
        time_base = stream.time_base or Fraction(1, 90000)
        stamps: list[int | None] = []
        try:
            for packet in container.demux(stream):
                if packet.size and not packet.is_discard:
                    stamps.append(packet.pts)
        except av.FFmpegError:
            pass  # damaged part-way: the timeline is what was read
        rates = [Fraction(r) for r in (stream.guessed_rate, stream.base_rate, stream.average_rate)
                 if r and math.isfinite(r) and r > 0]
    if not stamps or None in stamps:
        return FrameTimeline(time_base, len(stamps))
    timed = sorted(s for s in stamps if s is not None)
    return FrameTimeline(time_base, len(timed), tuple(timed), grid_step(timed, rates, time_base))
