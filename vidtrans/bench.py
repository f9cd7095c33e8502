"""`bench`: how fast each stage of video translation runs, alone and end to end.

Stages, each timed on its own (device work synchronised before the clock stops):

    decode       the clip to RGB frames (PyAV, threaded)
    upload       host -> device, uint8 batches from pinned memory
    preprocess   on the device: to the model's dtype, normalise, pad, channels-last
    model        the backend alone, on device-resident input
    postprocess  on the device: crop, to uint8
    download     device -> host, into pinned memory
    encode       RGB frames to a video file, with the encoder `convert` would use (`--encoder auto`:
                 NVENC where it works, else libx264 at a fast preset)
    end to end   `convert` on the clip, through the real pipeline (stages overlapping)

The clip is `--input` or a synthetic one generated at `--size` with `--frames` frames. The model can
be a model directory or a randomly initialised reference architecture (`--arch resnet_9blocks`), which
is as fast as a trained one.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

from vidtrans.conversion import ConvertOptions, ConvertSummary, convert
from vidtrans.errors import UsageError
from vidtrans.modeldir import ModelDirectory
from vidtrans.networks import build_generator, count_parameters
from vidtrans.runtime import RuntimeOptions
from vidtrans.translator import Translator
from vidtrans.video import EncodeOptions, VideoReader, VideoWriter


@dataclass(frozen=True)
class BenchOptions:
    """What to measure: how the model runs (`runtime`), batch size, clip (generated size and frame count) and
    warm-up."""

    runtime: RuntimeOptions = RuntimeOptions()
    batch_size: int = 8
    frames: int = 120
    """Frames of the generated clip, or the most frames read from an input clip."""
    size: tuple[int, int] = (1024, 512)
    """(width, height) of the generated clip."""
    warmup: int = 3
    """Batches run before timing (cuDNN autotuning, torch.compile)."""
    encode: EncodeOptions = EncodeOptions()
    end_to_end: bool = True

    def __post_init__(self) -> None:
        for name, minimum in (("batch_size", 1), ("frames", 1), ("warmup", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise UsageError(f"--{name.replace('_', '-')} must be an integer >= {minimum}; got {value!r}")
        if len(self.size) != 2 or min(self.size) < 8:
            raise UsageError(f"--size must be at least 8x8; got {self.size!r}")


@dataclass(frozen=True)
class StageTiming:
    """One stage: how many frames went through in how many seconds."""

    stage: str
    frames: int
    seconds: float
    note: str = ""

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else math.inf

    @property
    def ms_per_frame(self) -> float:
        return 1000.0 * self.seconds / self.frames if self.frames else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "fps": round(self.fps, 2), "ms_per_frame": round(self.ms_per_frame, 4)}


@dataclass(frozen=True)
class BenchReport:
    """Stage timings with the settings and machine they were measured on."""

    settings: dict[str, Any]
    environment: dict[str, Any]
    stages: tuple[StageTiming, ...]
    end_to_end: ConvertSummary | None = None
    notes: tuple[str, ...] = field(default=())

    def table(self) -> str:
        """A plain-text table: stage, frames/s, ms/frame, note."""
        rows = [f"{'stage':<14}{'frames/s':>12}{'ms/frame':>12}  note"]
        rows += [f"{s.stage:<14}{s.fps:>12.1f}{s.ms_per_frame:>12.3f}  {s.note}" for s in self.stages]
        return "\n".join(rows)

    def to_dict(self) -> dict[str, Any]:
        return {"settings": self.settings, "environment": self.environment,
                "stages": [s.to_dict() for s in self.stages],
                "end_to_end": self.end_to_end.to_dict() if self.end_to_end else None, "notes": list(self.notes)}


def synthetic_clip(path: Path, *, size: tuple[int, int], frames: int, fps: int = 30) -> Path:
    """Write a clip of moving gradients, stripes and boxes (driving-scene-like motion) with libx264."""
    width, height = size
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width * 2].astype(np.float32)
    horizon = height * 0.45
    sky = np.stack([110 + 60 * yy / height, 150 + 40 * yy / height, 220 - 30 * yy / height], axis=-1)
    road = np.stack([90 + 40 * np.sin(xx / 23.0), 90 + 30 * np.sin(xx / 41.0), 95 + 0 * xx], axis=-1)
    world = np.where((yy < horizon)[..., None], sky, road)
    world += rng.normal(0, 6, world.shape)
    world = np.clip(world, 0, 255).astype(np.uint8)
    boxes = [(int(rng.integers(0, width)), int(rng.integers(int(horizon), height - 8)),
              int(rng.integers(12, 80)), rng.integers(0, 255, 3).astype(np.uint8)) for _ in range(12)]
    with VideoWriter(path, width=width, height=height, time_base=Fraction(1, fps), frame_rate=Fraction(fps),
                     options=EncodeOptions(encoder="libx264", crf=18, preset="veryfast")) as writer:
        for i in range(frames):
            offset = (i * 7) % width
            frame = world[:, offset:offset + width].copy()
            for x, y, s, colour in boxes:
                x0 = (x + i * (3 + s // 20)) % width
                frame[y:y + s // 2, x0:x0 + s] = colour
            writer.write(frame, pts=i, duration=1)
    return path


def _timed(fn: Callable[[], object], repeats: int, sync: Callable[[], None]) -> float:
    sync()
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return time.perf_counter() - started


def bench(model: ModelDirectory, *, workdir: Path, input: Path | None = None,
          options: BenchOptions = BenchOptions()) -> BenchReport:
    """Measure every stage on `input` (or a generated clip written into `workdir`) with `model`."""
    workdir = Path(workdir)
    clip = Path(input) if input is not None else synthetic_clip(workdir / "bench-clip.mp4", size=options.size,
                                                                   frames=options.frames)
    reader = VideoReader(clip)
    reader.timeline  # noqa: B018 - read before the clock starts: one pass over the packets, not decoding
    started = time.perf_counter()
    frames = [f.pixels for _, f in zip(range(options.frames), reader)]
    decode_s = time.perf_counter() - started
    if not frames:
        raise UsageError(f"{clip}: no frames decode")
    height, width = frames[0].shape[:2]
    stages = [StageTiming("decode", len(frames), decode_s, f"{width}x{height} {reader.info.codec}")]

    translator = Translator.from_model(model, options.runtime)
    backend = translator.backend
    try:
        stages += _device_stages(translator, frames, options)
        stages.append(_encode_stage(frames, workdir / "bench-encode.mp4", reader, options.encode))
        summary = None
        if options.end_to_end:
            summary = convert(clip, workdir / "bench-out.mp4", model=model, translator=translator,
                              options=ConvertOptions(runtime=options.runtime, batch_size=options.batch_size,
                                                     encode=options.encode,
                                                     overwrite=True, progress=False))
            stages.append(StageTiming("end to end", summary.frames, summary.wall_s,
                                      f"decode {summary.decode_s:.2f}s, inference {summary.inference_s:.2f}s, "
                                      f"encode {summary.encode_s:.2f}s (overlapping)"))
    finally:
        translator.close()
    encoder = options.encode.encoder_for(".mp4")
    settings = {
        "model": model.name, "generator": model.info.generator.type, "ngf": model.info.generator.ngf,
        "parameters": count_parameters(build_generator(model.info.generator)),
        "clip": str(clip), "size": [width, height], "frames": len(frames), "backend": backend.name,
        "device": str(backend.device), "precision": backend.precision, "batch_size": options.batch_size,
        "compile": options.runtime.compile,
        "compile_mode": options.runtime.compile_mode if options.runtime.compile else None,
        "warmup": options.warmup, "encoder": encoder, "crf": options.encode.crf,
        "preset": options.encode.preset_for(encoder),
    }
    return BenchReport(settings=settings, environment=environment(backend.device), stages=tuple(stages),
                       end_to_end=summary)


def _device_stages(translator: Translator, frames: list[np.ndarray], options: BenchOptions) -> list[StageTiming]:
    """upload, preprocess, model, postprocess and download, each on the same batch."""
    n = options.batch_size
    height, width = frames[0].shape[:2]
    host = translator.host_array((n, height, width, 3))
    for i in range(n):
        host[i] = frames[i % len(frames)]
    for _ in range(options.warmup):
        translator.translate(host)
    repeats = max(1, math.ceil(len(frames) / n))
    total = repeats * n
    sync = translator.synchronize
    backend = translator.backend
    with torch.inference_mode(), translator.stream.active():
        device_frames = translator.upload(host)
        prepared = translator.prepare(device_frames)
        # kept past the timed runs below: a CUDA-graph compile mode overwrites the model's output at each run
        output = backend.run(prepared).clone()
        translated = translator.finish(output, height, width)
        sync()
        upload_s = _timed(lambda: translator.upload(host), repeats, sync)
        prepare_s = _timed(lambda: translator.prepare(device_frames), repeats, sync)
        model_s = _timed(lambda: backend.run(prepared), repeats, sync)
        finish_s = _timed(lambda: translator.finish(output, height, width), repeats, sync)
        download_s = _timed(lambda: translator.download(translated).result(), repeats, sync)
    megabytes = host.nbytes * repeats / 1e6

    def rate(seconds: float) -> str:
        if translator.device.type != "cuda":
            return "no copy on the CPU"
        return f"{megabytes / seconds / 1e3:.2f} GB/s" if seconds > 0 else ""

    padded = f"{prepared.shape[3]}x{prepared.shape[2]}"
    return [
        StageTiming("upload", total, upload_s, rate(upload_s)),
        StageTiming("preprocess", total, prepare_s, f"to {padded} {backend.input_dtype}".replace("torch.", "")),
        StageTiming("model", total, model_s, f"{backend.name} {backend.precision} batch {n} on {backend.device}"),
        StageTiming("postprocess", total, finish_s),
        StageTiming("download", total, download_s, rate(download_s)),
    ]


def _encode_stage(frames: list[np.ndarray], path: Path, reader: VideoReader, options: EncodeOptions) -> StageTiming:
    height, width = frames[0].shape[:2]
    started = time.perf_counter()
    with VideoWriter(path, width=width, height=height, time_base=Fraction(1, 30), frame_rate=Fraction(30),
                     options=options, colour=reader.info.colour) as writer:
        for i, frame in enumerate(frames):
            writer.write(frame, pts=i, duration=1)
    seconds = time.perf_counter() - started
    return StageTiming("encode", len(frames), seconds, options.describe(path.suffix))


def environment(device: torch.device) -> dict[str, Any]:
    """The machine and library versions a measurement was made with."""
    env: dict[str, Any] = {
        "python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "pyav": av.__version__, "libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
        "cpu_count": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(gpu=props.name, gpu_memory_gb=round(props.total_memory / 2**30, 1),
                   compute_capability=f"{props.major}.{props.minor}")
    return env
