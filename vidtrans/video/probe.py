"""What a video file holds: size, frame count, rate, duration, time base, rotation, colour and companion streams."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vidtrans.errors import InputError
from vidtrans.video.colour import Colour, is_known_matrix


def open_input(path: Path) -> av.container.InputContainer:
    """Open a media file for reading, or raise an InputError naming it and the problem."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a video file")
    try:
        return av.open(str(path), mode="r")
    except av.EOFError:
        raise InputError(f"{path}: not a readable video (it ends before its first frame)") from None
    except av.FFmpegError as error:
        raise InputError(f"{path}: not a readable video ({_reason(error)})") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror or error})") from None


def _reason(error: av.FFmpegError) -> str:
    return (getattr(error, "strerror", None) or str(error)).rstrip(".")


def video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    """The first video stream that is not a cover picture, or an InputError."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    kinds = ", ".join(sorted({s.type for s in container.streams})) or "no streams"
    raise InputError(f"{path}: no video stream (it holds: {kinds})")


def normalise_rotation(degrees: float) -> int:
    """A display rotation as 0, 90, 180 or 270 degrees counter-clockwise (others are rounded)."""
    return int(round(degrees / 90.0)) % 4 * 90


@dataclass(frozen=True)
class VideoInfo:
    """The video stream of a file (the first one) and what else the file holds."""

    path: Path
    container: str
    """FFmpeg's format name, e.g. "mov,mp4,m4a,3gp,3g2,mj2" or "matroska,webm"."""
    codec: str
    width: int
    height: int
    pix_fmt: str | None
    frames: int | None
    """Frame count from the container's index, or None when the container doesn't record it."""
    average_rate: Fraction | None
    """Frames per second averaged over the stream (None when unknown)."""
    time_base: Fraction
    start_time: float
    """Seconds."""
    duration: float | None
    """Seconds, of the video stream (or of the file when the stream doesn't say)."""
    stream_duration: float | None
    """Seconds, as the video stream itself records (MP4 index, Matroska DURATION tag); None if it doesn't."""
    rotation: int
    """Display rotation, degrees counter-clockwise: 0, 90, 180 or 270."""
    colour: Colour
    """The colour the frames are decoded with (tags resolved by `Colour.resolve`)."""
    colour_tagged: bool
    """Whether the stream declared its colour matrix (otherwise `colour` is the rule's guess)."""
    decodable: bool
    """Whether the first frame decodes (False for a video without frames or a badly damaged one)."""
    audio_codecs: tuple[str, ...]
    subtitle_codecs: tuple[str, ...]

    @property
    def has_audio(self) -> bool:
        return bool(self.audio_codecs)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the decoded frames (before display rotation)."""
        return self.width, self.height

    @property
    def estimated_frames(self) -> int | None:
        """The frame count, or duration x rate when the container doesn't record it."""
        if self.frames:
            return self.frames
        if self.duration and self.average_rate:
            return max(1, round(self.duration * self.average_rate))
        return None


def probe(path: Path) -> VideoInfo:
    """Describe the video stream of `path`; raises InputError for a missing file or one without video.

    The first frame is decoded to read the rotation and colour tags the decoder reports.
    """
    path = Path(path)
    with open_input(path) as container:
        stream = video_stream(container, path)
        ctx = stream.codec_context
        first = _first_frame(container, stream)
        tags = first if first is not None else ctx
        height = first.height if first is not None else ctx.height
        colour = Colour.resolve(height=height, colorspace=tags.colorspace, color_range=tags.color_range,
                                color_primaries=tags.color_primaries, color_trc=tags.color_trc,
                                pix_fmt=first.format.name if first is not None else ctx.pix_fmt)
        time_base = stream.time_base or Fraction(1, 90000)
        stream_duration = float(stream.duration * time_base) if stream.duration else _duration_tag(stream)
        duration = stream_duration or (container.duration / av.time_base if container.duration else None)
        rate = stream.average_rate or stream.guessed_rate
        return VideoInfo(
            path=path, container=container.format.name, codec=ctx.name,
            width=first.width if first is not None else ctx.width, height=height,
            pix_fmt=first.format.name if first is not None else ctx.pix_fmt,
            frames=stream.frames or None, average_rate=Fraction(rate) if rate else None, time_base=time_base,
            start_time=float(stream.start_time * time_base) if stream.start_time is not None else 0.0,
            duration=duration, stream_duration=stream_duration,
            rotation=normalise_rotation(first.rotation) if first is not None else 0,
            colour=colour, colour_tagged=is_known_matrix(tags.colorspace), decodable=first is not None,
            audio_codecs=tuple(s.codec_context.name for s in container.streams.audio if s.codec_context),
            subtitle_codecs=tuple(s.codec_context.name if s.codec_context else "unknown"
                                  for s in container.streams.subtitles),
        )


def _duration_tag(stream: av.video.stream.VideoStream) -> float | None:
    """Matroska's per-stream `DURATION` tag ("00:00:01.033000000") in seconds, if present and well formed."""
    match = re.fullmatch(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", stream.metadata.get("DURATION", "").strip())
    if not match:
        return None
    return int(match.group(1)) * 3600 + int(match.group(2)) * 60 + float(match.group(3))


def _first_frame(container: av.container.InputContainer,
                 stream: av.video.stream.VideoStream) -> av.VideoFrame | None:
    """The first frame that decodes, or None (no frames, or none decodable)."""
    try:
        for packet in container.demux(stream):
            try:
                for frame in packet.decode():
                    return frame
            except av.FFmpegError:
                continue
    except av.FFmpegError:
        return None
    return None
