"""Encoding RGB frames into a video file with the input's timestamps, colour tags and rotation.

Rules the writer follows:

- Timestamps: every frame keeps its pts in the input stream's time base, which becomes the output
  stream's time base (Matroska rounds it to milliseconds), and each packet keeps its frame's duration,
  so variable frame rates and the total duration survive. In MP4/MOV the last packet's duration is set
  so that the track ends where the last frame ends even when B-frames delay the decode timestamps.
- Colour: RGB is converted to yuv420p with the given `Colour` (matrix and range) and the stream is
  tagged with its matrix, range, primaries and transfer.
- Odd sizes: yuv420p has one chroma sample per 2x2 pixels, so a frame with an odd width or height is
  padded by one column or row that repeats the edge; the stream is then one pixel wider or taller
  than the frames given (641x359 is stored as 642x360). No pixel is lost and none is resampled.
- Rotation: the display rotation is written as the stream's display matrix.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidtrans.errors import OutputError, UsageError
from vidtrans.video.colour import Colour
from vidtrans.video.encoders import AUTO_FALLBACK, AUTO_FALLBACK_PRESET, NVENC_ENCODERS, encoder_for, nvenc_problem
from vidtrans.video.remux import CompanionStreams, RemuxReport, container_accepts

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm")
_FORMATS = {".mp4": "mp4", ".mkv": "matroska", ".mov": "mov", ".webm": "webm"}
DEFAULT_CRF = 18
_ISO_BMFF = {"mp4", "mov", "ipod", "3gp", "3g2", "ismv", "f4v", "psp"}
# How each family of encoders takes a constant-quality level and a speed preset.
_QUALITY_OPTION = {"libx264": "crf", "libx265": "crf", "libvpx-vp9": "crf", "libvpx": "crf", "libsvtav1": "crf",
                   "h264_nvenc": "cq", "hevc_nvenc": "cq", "av1_nvenc": "cq"}
_HAS_PRESET = {"libx264", "libx265", "libsvtav1", "h264_nvenc", "hevc_nvenc", "av1_nvenc"}


@dataclass(frozen=True)
class EncodeOptions:
    """Video encoder settings.

    `encoder` "auto" takes NVENC (h264_nvenc) where it works, else libx264 at preset "veryfast" (libvpx-vp9
    for .webm); see `vidtrans.video.encoders`. Any FFmpeg video encoder can be named instead; an NVENC one
    that cannot encode here is refused. `crf` is the constant-quality level (x264/x265, VP9, SVT-AV1; `cq` for
    NVENC; other encoders use their own defaults). `preset` is the named encoder's speed preset (x264/x265
    names such as "veryfast", NVENC "p1".."p7", SVT-AV1 0-13); None keeps the encoder's default. Presets
    differ between encoders, so `auto` takes none.
    """

    encoder: str = "auto"
    crf: int = DEFAULT_CRF
    preset: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.crf, bool) or not isinstance(self.crf, int) or not 0 <= self.crf <= 63:
            raise UsageError(f"--crf must be an integer from 0 to 63; got {self.crf!r}")
        if self.encoder == "auto":
            if self.preset is not None:
                raise UsageError(f"--preset {self.preset} needs an explicit --encoder: presets differ between "
                                 f"encoders (x264: ultrafast..veryslow, NVENC: p1..p7)")
            return
        try:
            codec = av.codec.Codec(self.encoder, "w")
        except ValueError:
            raise UsageError(f"--encoder {self.encoder}: no such video encoder in this FFmpeg build") from None
        if codec.type != "video":
            raise UsageError(f"--encoder {self.encoder}: is a {codec.type} encoder, not a video one")
        self.check_preset(self.encoder)
        problem = nvenc_problem(self.encoder) if self.encoder in NVENC_ENCODERS else None
        if problem is not None:
            raise UsageError(f"--encoder {self.encoder}: NVENC cannot encode here ({problem}); use --encoder auto "
                             f"or {AUTO_FALLBACK}")

    def check_preset(self, codec: str) -> None:
        """Refuse a preset for an encoder that has none."""
        if self.preset is not None and codec not in _HAS_PRESET:
            raise UsageError(f"--preset is not supported with the {codec} encoder "
                             f"(it is with {', '.join(sorted(_HAS_PRESET))})")

    def encoder_for(self, suffix: str) -> str:
        """The encoder to use for an output with this suffix (`auto` resolved)."""
        return encoder_for(self.encoder, suffix)

    def preset_for(self, codec: str) -> str | None:
        """The speed preset `codec` runs at: the one asked for, or under `auto` libx264's fast one."""
        if self.encoder == "auto" and codec == AUTO_FALLBACK:
            return AUTO_FALLBACK_PRESET
        return self.preset

    def describe(self, suffix: str) -> str:
        """`libx264 crf 18 preset veryfast` and the like, for reports."""
        codec = self.encoder_for(suffix)
        preset = self.preset_for(codec)
        return f"{codec} crf {self.crf}" + (f" preset {preset}" if preset else "")

    def encoder_options(self, codec: str) -> dict[str, str]:
        """The FFmpeg options for `codec`."""
        options: dict[str, str] = {}
        quality = _QUALITY_OPTION.get(codec)
        if quality:
            options[quality] = str(min(self.crf, 51) if quality == "cq" else self.crf)
        if codec.startswith("libvpx"):
            options["b"] = "0"  # constant-quality mode
        if codec in NVENC_ENCODERS:
            options.update(rc="vbr", b="0")  # with `cq`: constant quality, no bitrate cap
        preset = self.preset_for(codec)
        if preset is not None and codec in _HAS_PRESET:
            options["preset"] = preset
        return options


def check_container_codec(path: Path, options: EncodeOptions) -> None:
    """Fail early (OutputError / UsageError) when the output's container cannot hold the chosen codec."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise UsageError(f"{path}: video output must end in {', '.join(VIDEO_SUFFIXES)}")
    codec = options.encoder_for(suffix)
    options.check_preset(codec)
    with av.open(io.BytesIO(), mode="w", format=_FORMATS[suffix]) as probe_output:
        _require_codec(path, probe_output, codec)


def _require_codec(path: Path, output: av.container.OutputContainer, codec: str) -> None:
    if not container_accepts(output, codec):
        raise OutputError(f"{path}: the {output.format.name} container cannot hold {codec} video "
                          f"(use --encoder auto, or one it takes)")


@dataclass(frozen=True)
class WriterReport:
    """What a finished `VideoWriter` wrote."""

    frames: int
    width: int
    height: int
    codec: str
    remux: RemuxReport


class VideoWriter:
    """Encode RGB uint8 frames of one size into a new video file (see the module docstring for the rules).

    `time_base` is the one the frames' pts are in; `frame_rate` (the average, for the encoder's rate
    control) defaults to 30 when unknown; `colour` defaults to `Colour.for_images()`. With `companion`,
    that file's audio and subtitle streams are carried over. Use as a context manager, or call `close()`
    (success) or `abort()`.
    """

    def __init__(self, path: Path, *, width: int, height: int, time_base: Fraction,
                 frame_rate: Fraction | None = None, options: EncodeOptions = EncodeOptions(),
                 colour: Colour | None = None, rotation: int = 0, companion: Path | None = None) -> None:
        self.path = Path(path)
        self.width, self.height = width, height
        self.time_base = time_base
        self.colour = colour or Colour.for_images()
        self.codec = options.encoder_for(self.path.suffix)
        self._pad = (height % 2, width % 2)
        self._frames = 0
        self._durations: dict[int, int] = {}
        self._first_dts: int | None = None
        self._min_pts: int | None = None
        self._end_pts: int | None = None
        self._held: av.Packet | None = None
        try:
            self.output = av.open(str(self.path), mode="w")
        except (av.FFmpegError, ValueError, OSError) as error:
            raise OutputError(f"{self.path}: cannot create the video file ({error})") from None
        try:
            self._iso_bmff = bool(_ISO_BMFF & set(self.output.format.name.split(",")))
            self.stream = self._add_video_stream(frame_rate or Fraction(30), options)
            if rotation:
                self.stream.set_display_rotation(rotation)
            self.companions = CompanionStreams(companion, self.output) if companion else None
        except BaseException:
            self.output.close()
            raise
        self._pool = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="vidtrans-yuv")

    def _add_video_stream(self, frame_rate: Fraction, options: EncodeOptions) -> av.video.stream.VideoStream:
        options.check_preset(self.codec)
        _require_codec(self.path, self.output, self.codec)
        stream = self.output.add_stream(self.codec, rate=frame_rate, options=options.encoder_options(self.codec))
        stream.width = self.width + self._pad[1]
        stream.height = self.height + self._pad[0]
        stream.pix_fmt = "yuv420p"
        stream.time_base = self.time_base
        ctx = stream.codec_context
        ctx.time_base = self.time_base
        ctx.color_range = self.colour.color_range
        ctx.colorspace = self.colour.colorspace
        ctx.color_primaries = self.colour.color_primaries
        ctx.color_trc = self.colour.color_trc
        return stream

    def write(self, rgb: np.ndarray, *, pts: int, duration: int | None = None) -> None:
        """Encode one RGB uint8 (H, W, 3) frame shown at `pts` for `duration` (both in `time_base` units)."""
        self.write_many([(rgb, pts, duration)])

    def write_many(self, frames: Sequence[tuple[np.ndarray, int, int | None]]) -> None:
        """Encode (rgb, pts, duration) frames in order; their conversion to YUV runs on several threads."""
        for rgb, _, _ in frames:
            if rgb.shape != (self.height, self.width, 3) or rgb.dtype != np.uint8:
                raise ValueError(f"{self.path}: expected a {self.width}x{self.height} RGB uint8 frame; "
                                 f"got {rgb.dtype} {rgb.shape}")
        pictures = [rgb for rgb, _, _ in frames]
        converted = self._pool.map(self._to_yuv, pictures) if len(pictures) > 1 else map(self._to_yuv, pictures)
        for frame, (_, pts, duration) in zip(converted, frames):
            frame.pts = pts
            frame.time_base = self.time_base
            if duration:
                frame.duration = duration
                self._durations[pts] = duration
            self._min_pts = pts if self._min_pts is None else min(self._min_pts, pts)
            end = pts + (duration or 1)
            self._end_pts = end if self._end_pts is None else max(self._end_pts, end)
            self._mux(self._encode(frame))
            self._frames += 1

    def _to_yuv(self, rgb: np.ndarray) -> av.VideoFrame:
        """RGB -> a tagged yuv420p frame, padded to even size (swscale releases the GIL, so threads help)."""
        if any(self._pad):
            rgb = np.pad(rgb, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame = frame.reformat(format="yuv420p", src_colorspace=self.colour.sws_matrix,
                               dst_colorspace=self.colour.sws_matrix, src_color_range="JPEG",
                               dst_color_range=self.colour.sws_range)
        frame.color_primaries = self.colour.color_primaries
        frame.color_trc = self.colour.color_trc
        return frame

    def _encode(self, frame: av.VideoFrame | None) -> list[av.Packet]:
        try:
            return self.stream.encode(frame)
        except av.FFmpegError as error:
            raise OutputError(f"{self.path}: the {self.codec} encoder failed ({error})") from None

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            if packet.pts is not None and packet.pts in self._durations:
                packet.duration = self._durations.pop(packet.pts)
            if self._first_dts is None:
                self._first_dts = packet.dts
            if self.companions is not None and packet.dts is not None:
                self.companions.pump(float(packet.dts * self.time_base))
            if self._held is not None:
                self._mux_now(self._held)
            self._held = packet

    def _mux_now(self, packet: av.Packet) -> None:
        try:
            self.output.mux(packet)
        except av.FFmpegError as error:
            raise OutputError(f"{self.path}: cannot write ({error})") from None

    def close(self) -> WriterReport:
        """Flush the encoder, finish the companion streams and write the file's trailer."""
        try:
            self._mux(self._encode(None))
            if self._held is not None:
                last = self._held
                if self._iso_bmff and None not in (last.dts, self._first_dts, self._min_pts, self._end_pts):
                    # MP4 track length = last dts + last duration - first dts; make it the frames' span.
                    span = self._end_pts - self._min_pts + self._first_dts - last.dts  # type: ignore[operator]
                    if span > 0:
                        last.duration = span
                self._mux_now(last)
                self._held = None
            if self.companions is not None:
                self.companions.finish()
            self.output.close()
            self._pool.shutdown()
        except (OSError, av.FFmpegError) as error:
            self.abort()
            raise OutputError(f"{self.path}: cannot write ({getattr(error, 'strerror', None) or error})") from None
        except BaseException:
            self.abort()
            raise
        return WriterReport(frames=self._frames, width=self.stream.width, height=self.stream.height,
                            codec=self.codec,
                            remux=self.companions.report if self.companions else RemuxReport())

    def abort(self) -> None:
        """Stop without finishing the file (the caller deletes it)."""
        self._pool.shutdown(cancel_futures=True)
        if self.companions is not None:
            self.companions.close()
        try:
            self.output.close()
        except (av.FFmpegError, OSError):
            pass

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
