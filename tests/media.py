"""Real media for tests: clips written with PyAV, pictures that say which frame they are, damaged packets,
JPEGs with an EXIF orientation.

Importable from any test (`tests` is on pytest's python path); conftest.py turns some into fixtures.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def pattern(index: int, width: int, height: int) -> np.ndarray:
    """A smooth, moving RGB test picture (gradients and a box), different for every frame index."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frame = np.stack([40 + 150 * xx / max(width - 1, 1), 40 + 150 * yy / max(height - 1, 1),
                      np.full_like(xx, 60 + (index * 13) % 120)], axis=-1)
    x0 = (index * max(width // 12, 1)) % max(width - width // 4, 1)
    frame[height // 4: height // 2, x0: x0 + width // 4] = (220, 60, 40)
    return frame.astype(np.uint8)


def _index_bands(width: int) -> list[tuple[int, int]]:
    """The column ranges of the four bands of an index picture that carry the index."""
    inner, left = width * 3 // 4, width // 8
    return [(left + band * inner // 4, left + (band + 1) * inner // 4) for band in range(4)]


def index_picture(index: int, width: int = 64, height: int = 32) -> np.ndarray:
    """A frame that says which one it is: four flat grey bands, two bits of `index` each (0-255), between a
    black band on the left and a white one on the right.

    The bands are big and flat, so the index survives video compression (see `picture_index`); the black
    and white bands pin the range, so no two pictures are a brightness change of each other, which instance
    normalisation would erase: a generator's translations of two index pictures differ too.
    """
    frame = np.zeros((height, width, 3), np.uint8)
    frame[:, width - width // 8:] = 255
    for band, (start, stop) in enumerate(_index_bands(width)):
        frame[:, start:stop] = 10 + 80 * ((index >> (2 * band)) & 3)
    return frame


def picture_index(pixels: np.ndarray) -> int:
    """The index an `index_picture` (decoded, possibly lossy) shows."""
    height, width = pixels.shape[:2]
    index = 0
    for band, (start, stop) in enumerate(_index_bands(width)):
        margin = (stop - start) // 4
        level = float(pixels[height // 4: 3 * height // 4, start + margin:stop - margin].mean())
        index |= min(3, max(0, round((level - 10) / 80))) << (2 * band)
    return index


def packet_payloads(path: Path) -> list[tuple[int, bytes]]:
    """(byte offset, bytes) of each video packet's payload in a file, in file order."""
    data = path.read_bytes()
    with av.open(str(path)) as container:
        packets = [(p.pos, bytes(p)) for p in container.demux(container.streams.video[0]) if p.size]
    return [(data.index(payload, position), payload) for position, payload in packets]


def damage_packet(path: Path, number: int) -> None:
    """Overwrite the payload of the `number`-th video packet (in file order) with zeros: it no longer decodes,
    while the container around it stays intact."""
    offset, payload = packet_payloads(path)[number]
    data = bytearray(path.read_bytes())
    data[offset:offset + len(payload)] = bytes(len(payload))
    path.write_bytes(bytes(data))


def drop_packet(source: Path, target: Path, number: int) -> Path:
    """Remux `source` into `target` without its `number`-th video packet (the frame is gone from the file)."""
    with av.open(str(source)) as reader, av.open(str(target), "w") as writer:
        video = reader.streams.video[0]
        copy = writer.add_stream_from_template(video)
        for position, packet in enumerate(p for p in reader.demux(video) if p.size):
            if position != number:
                packet.stream = copy
                writer.mux(packet)
    return target


ClipMaker = Callable[..., Path]


def write_clip(path: Path, *, size: tuple[int, int] = (64, 48), frames: int = 10,
               rate: Fraction = Fraction(30), pts: Sequence[int] | None = None, time_base: Fraction | None = None,
               audio: str | None = None, subtitles: bool = False, rotation: int = 0, bframes: bool = False, colour: tuple[int, int] | None = None, faststart: bool = False,
               pix_fmt: str = "yuv420p", picture: Callable[[int, int, int], np.ndarray] = pattern,
               keyframes_only: bool = False) -> Path:
    """Write a clip of `pattern` (or `picture`) frames with PyAV.

    `pts` (in `time_base`, default 1/rate) makes a variable-frame-rate clip; `audio` is an encoder name
    ("aac", "pcm_s16le", "pcm_mulaw") for a 48 kHz tone as long as the video; `colour` is
    (AVColorSpace, AVColorRange) to tag and encode with (default: untagged, BT.601 limited range). With
    yuv420p an odd size is rounded up to even; yuv444p keeps it. `bframes` lets x264 reorder frames.
    `picture(index, width, height)` draws each frame (default `pattern`); `keyframes_only` makes every frame
    decodable on its own.
    """
    width, height = size
    time_base = time_base or 1 / rate
    stamps = list(pts) if pts is not None else [round(i / rate / time_base) for i in range(frames)]
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), mode="w", options=options) as container:
        stream = container.add_stream("libx264", rate=rate)
        even = pix_fmt == "yuv420p"
        stream.width, stream.height = (width + width % 2, height + height % 2) if even else (width, height)
        stream.pix_fmt = pix_fmt
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        stream.options = {"crf": "12", "bf": "2" if bframes else "0", **({"g": "1"} if keyframes_only else {})}
        matrix, full = "ITU601", "MPEG"
        if colour is not None:
            stream.codec_context.colorspace, stream.codec_context.color_range = colour
            matrix = {1: "ITU709", 5: "ITU601", 6: "ITU601", 9: "BT2020"}[colour[0]]
            full = "JPEG" if colour[1] == 2 else "MPEG"
        if rotation:
            stream.set_display_rotation(rotation)
        audio_stream = container.add_stream(audio, rate=48000, layout="stereo") if audio else None
        subtitle_stream = container.add_mux_stream("subrip") if subtitles else None
        for i, stamp in enumerate(stamps):
            drawn = picture(i, stream.width, stream.height)
            frame = av.VideoFrame.from_ndarray(drawn, format="rgb24").reformat(
                format=pix_fmt, src_colorspace=matrix, dst_colorspace=matrix, src_color_range="JPEG",
                dst_color_range=full)
            frame.pts, frame.time_base = stamp, time_base
            frame.duration = (stamps[i + 1] - stamp) if i + 1 < len(stamps) else round(1 / rate / time_base)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        end = (stamps[-1] + round(1 / rate / time_base)) * time_base
        if audio_stream is not None:
            samples = int(end * 48000)
            tone = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 48000)).astype(np.float32)
            chunk = audio_stream.codec_context.frame_size or 1024
            fmt = audio_stream.codec_context.format.name
            for start in range(0, samples, chunk):
                block = np.repeat(tone[None, start:start + chunk], 2, axis=0)
                if fmt == "s16":
                    block = (block * 32767).astype(np.int16).T.reshape(1, -1)
                elif fmt != "fltp":
                    raise ValueError(f"write_clip: add support for audio sample format {fmt}")
                audio_frame = av.AudioFrame.from_ndarray(block, format=fmt, layout="stereo")
                audio_frame.sample_rate, audio_frame.pts, audio_frame.time_base = 48000, start, Fraction(1, 48000)
                container.mux(audio_stream.encode(audio_frame))
            container.mux(audio_stream.encode())
        if subtitle_stream is not None:
            packet = av.Packet(b"a subtitle")
            packet.stream, packet.pts, packet.dts, packet.duration = subtitle_stream, 0, 0, 300
            packet.time_base = Fraction(1, 1000)
            container.mux(packet)
    return path


def jpeg_with_orientation(rgb: np.ndarray, orientation: int) -> bytes:
    """A JPEG of `rgb` (as stored) carrying an EXIF orientation tag (1-8), as phones and dashcams write them."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 98])
    assert ok
    entry = struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)  # Orientation, SHORT, one value
    tiff = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1) + entry + struct.pack(">I", 0)
    body = b"Exif\x00\x00" + tiff
    data = encoded.tobytes()
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + data[2:]  # APP1 after SOI


UPRIGHT = {
    1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1), 7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}
"""How an image viewer shows stored pixels for each EXIF orientation."""


def with_extra_video(source: Path, target: Path) -> Path:
    """Remux `source` into `target` with a second copy of its video stream (another angle) and a PNG cover
    picture (an attached picture, as music and phone apps add)."""
    with av.open(str(source)) as reader, av.open(str(target), "w") as writer:
        video = reader.streams.video[0]
        main, angle = writer.add_stream_from_template(video), writer.add_stream_from_template(video)
        cover = writer.add_stream("png")
        cover.width, cover.height, cover.pix_fmt = 16, 16, "rgb24"
        cover.disposition = av.stream.Disposition.attached_pic
        picture = av.VideoFrame.from_ndarray(np.full((16, 16, 3), 200, np.uint8), format="rgb24")
        for packet in [*cover.encode(picture), *cover.encode()]:
            packet.stream = cover
            writer.mux(packet)
        for packet in reader.demux(video):
            if not packet.size:
                continue
            twin = av.Packet(bytes(packet))
            twin.pts, twin.dts, twin.duration = packet.pts, packet.dts, packet.duration
            twin.time_base, twin.is_keyframe = packet.time_base, packet.is_keyframe
            packet.stream, twin.stream = main, angle
            writer.mux([packet, twin])
    return target


def without_frames(path: Path, *, video_track: bool = True) -> Path:
    """A file holding a short sound and, with `video_track`, a video track without a single frame."""
    with av.open(str(path), "w") as container:
        if video_track:
            stream = container.add_stream("libx264", rate=30)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        sound = container.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        container.mux(sound.encode(frame))
        container.mux(sound.encode())
    return path
