"""Shared fixtures: a tiny model directory and a maker of real video clips (written with PyAV directly)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from vidtrans.modeldir import ModelDirectory, ModelInfo, save_model
from vidtrans.networks import ResnetGeneratorConfig, build_generator, init_weights


def pattern(index: int, width: int, height: int) -> np.ndarray:
    """A smooth, moving RGB test picture (gradients and a box), different for every frame index."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frame = np.stack([40 + 150 * xx / max(width - 1, 1), 40 + 150 * yy / max(height - 1, 1),
                      np.full_like(xx, 60 + (index * 13) % 120)], axis=-1)
    x0 = (index * max(width // 12, 1)) % max(width - width // 4, 1)
    frame[height // 4: height // 2, x0: x0 + width // 4] = (220, 60, 40)
    return frame.astype(np.uint8)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run torch on one CPU thread for the test.

    Tiny test models are all per-operation overhead, and on a busy 2-core machine OpenMP workers
    waiting for each other make them a hundred times slower than one thread.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> ModelDirectory:
    """A ResNet generator with 8 filters and 2 blocks (fast on a CPU), initialised as the reference does."""
    torch.manual_seed(0)
    config = ResnetGeneratorConfig(ngf=8, n_blocks=2)
    folder = tmp_path_factory.mktemp("models") / "tiny"
    return save_model(folder, ModelInfo(name="tiny", generator=config, source_domain="game",
                                        target_domain="real"), init_weights(build_generator(config)))


ClipMaker = Callable[..., Path]


def write_clip(path: Path, *, size: tuple[int, int] = (64, 48), frames: int = 10,
               rate: Fraction = Fraction(30), pts: Sequence[int] | None = None, time_base: Fraction | None = None,
               audio: str | None = None, subtitles: bool = False, rotation: int = 0, bframes: bool = False, colour: tuple[int, int] | None = None, faststart: bool = False,
               pix_fmt: str = "yuv420p") -> Path:
    """Write a clip of `pattern` frames with PyAV.

    `pts` (in `time_base`, default 1/rate) makes a variable-frame-rate clip; `audio` is an encoder name
    ("aac", "pcm_s16le", "pcm_mulaw") for a 48 kHz tone as long as the video; `colour` is
    (AVColorSpace, AVColorRange) to tag and encode with (default: untagged, BT.601 limited range). With
    yuv420p an odd size is rounded up to even; yuv444p keeps it. `bframes` lets x264 reorder frames.
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
        stream.options = {"crf": "12", "bf": "2" if bframes else "0"}
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
            picture = pattern(i, stream.width, stream.height)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(
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


@pytest.fixture
def frame_pattern() -> Callable[[int, int, int], np.ndarray]:
    """`pattern(index, width, height)`: the picture `make_clip` writes as frame `index`."""
    return pattern


@pytest.fixture
def make_clip(tmp_path: Path) -> ClipMaker:
    """`make_clip(name, **options)` writes a clip (see `write_clip`) into the test's folder; returns its path."""
    def make(name: str = "clip.mp4", **kwargs: object) -> Path:
        return write_clip(tmp_path / name, **kwargs)  # type: ignore[arg-type]
    return make
