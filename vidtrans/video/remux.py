"""Carrying an input's audio and subtitle streams into a new video file.

Streams are copied packet for packet when the output container accepts their codec. Audio it does not
accept is re-encoded (AAC, or Opus for WebM) and subtitles it does not accept are left out; either is
said with a warning. Video streams besides the translated one (other angles, cover pictures) are left out
with a warning. Data and attachment streams (timecodes, fonts) are not carried over. Packets are
read lazily from a second reader of the input and interleaved with the new video by time, so memory
stays flat however long the file.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av

from vidtrans.console import warn
from vidtrans.video.probe import open_input, video_stream


def container_accepts(output: av.container.OutputContainer, codec: str) -> bool:
    """Whether the output format can hold `codec` (true when FFmpeg cannot tell, so the muxer decides)."""
    supported = output.supported_codecs
    return not supported or codec in supported


def _reencode_codec(output: av.container.OutputContainer) -> str:
    return "libopus" if output.format.name == "webm" else "aac"


@dataclass
class RemuxReport:
    """What happened to each audio and subtitle stream of the input."""

    copied: list[str] = field(default_factory=list)
    reencoded: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def notes(self) -> list[str]:
        """Short notes like `audio aac copied`, for summaries."""
        return [*(f"{s} copied" for s in self.copied), *(f"{s} re-encoded" for s in self.reencoded),
                *(f"{s} left out" for s in self.dropped)]


class _AudioReencoder:
    """Decode one audio stream and encode it again with a codec the output accepts."""

    def __init__(self, source: av.audio.stream.AudioStream, output: av.container.OutputContainer) -> None:
        codec = _reencode_codec(output)
        ctx = source.codec_context
        rate = 48000 if codec == "libopus" else (ctx.sample_rate or 48000)
        self.stream = output.add_stream(codec, rate=rate, layout=ctx.layout.name if ctx.layout else "stereo")
        if codec == "aac":
            self.stream.bit_rate = 192_000
        self.source = source
        self._resampler: av.AudioResampler | None = None

    def process(self, packet: av.Packet | None) -> list[av.Packet]:
        frames = self.source.decode(packet)
        if self._resampler is None:
            ctx = self.stream.codec_context
            self._resampler = av.AudioResampler(format=ctx.format, layout=ctx.layout, rate=ctx.sample_rate,
                                                frame_size=ctx.frame_size or None)
        packets: list[av.Packet] = []
        for frame in [*frames, None] if packet is None else frames:
            for resampled in self._resampler.resample(frame):
                packets += self.stream.encode(resampled)
        if packet is None:
            packets += self.stream.encode(None)
        return packets


class CompanionStreams:
    """The audio and subtitle streams of `source`, added to `output` (before its header is written).

    Call `pump(until)` as video is written to mux the companion packets up to that time (seconds), and
    `finish()` before closing the output to mux the rest.
    """

    def __init__(self, source: Path, output: av.container.OutputContainer) -> None:
        self.report = RemuxReport()
        self._input = open_input(source)
        self._copies: dict[int, av.stream.Stream] = {}
        self._reencoders: dict[int, _AudioReencoder] = {}
        for stream in [*self._input.streams.audio, *self._input.streams.subtitles]:
            self._plan(stream, output)
        translated = video_stream(self._input, Path(source))
        for stream in self._input.streams.video:
            if stream.index != translated.index:
                self._leave_out(stream)
        self._output = output
        selected = [self._input.streams[i] for i in (*self._copies, *self._reencoders)]
        self._packets: Iterator[av.Packet] | None = self._input.demux(*selected) if selected else None
        self._next: av.Packet | None = None
        self.source = Path(source)

    def _plan(self, stream: av.stream.Stream, output: av.container.OutputContainer) -> None:
        codec = stream.codec_context.name if stream.codec_context else "unknown"
        label = f"{stream.type} stream #{stream.index} ({codec})"
        if container_accepts(output, codec):
            try:
                copy = output.add_stream_from_template(stream)
            except (ValueError, av.FFmpegError):
                pass
            else:
                for key in ("language", "title"):
                    if key in stream.metadata:
                        copy.metadata[key] = stream.metadata[key]
                self._copies[stream.index] = copy
                self.report.copied.append(label)
                return
        if stream.type == "audio":
            target = _reencode_codec(output)
            self._reencoders[stream.index] = _AudioReencoder(stream, output)
            self.report.reencoded.append(label)
            warn(f"{label}: the {output.format.name} container cannot hold {codec}; re-encoding it to "
                 f"{target.removeprefix('lib')}")
        else:
            self.report.dropped.append(label)
            warn(f"{label}: the {output.format.name} container cannot hold {codec} subtitles; leaving them out")

    def _leave_out(self, stream: av.video.stream.VideoStream) -> None:
        """A video stream that is not translated: another angle, or a cover picture."""
        kind = "cover picture" if stream.disposition & av.stream.Disposition.attached_pic else "video"
        codec = stream.codec_context.name if stream.codec_context else "unknown"
        label = f"{kind} stream #{stream.index} ({codec})"
        self.report.dropped.append(label)
        warn(f"{label}: left out (vidtrans translates one video stream, the first)")

    def pump(self, until: float) -> None:
        """Mux the companion packets that start before `until` seconds."""
        while True:
            packet = self._peek()
            if packet is None or packet.dts * packet.time_base >= until:
                return
            self._next = None
            self._mux(packet)

    def finish(self) -> None:
        """Mux all remaining packets and flush re-encoders."""
        self.pump(math.inf)
        for reencoder in self._reencoders.values():
            self._output.mux(reencoder.process(None))
        self.close()

    def close(self) -> None:
        self._packets = None
        self._input.close()

    def _peek(self) -> av.Packet | None:
        while self._next is None and self._packets is not None:
            try:
                packet = next(self._packets)
            except StopIteration:
                self._packets = None
            except av.FFmpegError as error:
                warn(f"{self.source}: audio/subtitles end early at a damaged part ({error})")
                self._packets = None
            else:
                if packet.dts is not None:
                    self._next = packet
        return self._next

    def _mux(self, packet: av.Packet) -> None:
        index = packet.stream.index
        if index in self._copies:
            packet.stream = self._copies[index]
            self._output.mux(packet)
            return
        try:
            packets = self._reencoders[index].process(packet)
        except av.FFmpegError as error:
            warn(f"{self.source}: skipped an audio packet that does not decode ({error})")
            return
        self._output.mux(packets)
