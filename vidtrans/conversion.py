"""`convert`: translate a video, an image or a folder of images with a model, into a video, image or folder.

    video  -> video (.mp4 .mkv .mov .webm) or a folder of frames (frame_000000.png, ...)
    image  -> image (.png .jpg .jpeg .webp .bmp)
    folder -> folder (same relative names) or a video (images in name order, at `fps`)
    folder of videos -> folder of videos (each converted as one video; see `vidtrans.folder_of_videos`,
              which also runs them on Ray with `ConvertOptions.ray`)

A video keeps its frame count, timestamps, duration, rotation and colour, and its audio and subtitle
streams (see `vidtrans.video`). A video may also come from standard input (`-`) or a named pipe; it is
copied into a temporary file first (see `vidtrans.pipes`). The output is written beside its final name and renamed into place only
when complete. A damaged input is translated as far as it decodes: the output holds the frames that
decoded and `ConvertSummary.bad_frames` counts the others (the CLI exits with PartialFailure).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from vidtrans.console import Progress, format_duration, warn
from vidtrans.engines import RayOptions, check_batch_job
from vidtrans.errors import InputError, OutputError, UsageError
from vidtrans.frames import Frame, FrameBatch, check_min_size
from vidtrans.fsutil import atomic_path, check_writable_target, claim_output
from vidtrans.images import IMAGE_EXTENSIONS, is_image_file, list_images
from vidtrans.modeldir import ModelDirectory
from vidtrans.pipes import STDIN, input_name, is_pipe, seekable_input
from vidtrans.pipeline import PipelineResult, Sink, run_pipeline
from vidtrans.registry import resolve_model
from vidtrans.resize import ResizeSpec
from vidtrans.runtime import RuntimeOptions
from vidtrans.sinks import Composer, ImageSink, VideoSink
from vidtrans.sources import ImageFrames, video_frames
from vidtrans.translator import NonFiniteOutput, Translator
from vidtrans.video import (VIDEO_SUFFIXES, EncodeOptions, VideoInfo, VideoReader, check_container_codec, list_videos,
                            probe)

if TYPE_CHECKING:
    from vidtrans.folder_of_videos import VideosSummary

Kind = Literal["video", "image", "folder", "videos"]
FRAME_FORMATS = ("png", "jpg")
FOLDER_MARKER = ".vidtrans-output"
"""The hidden file in every folder convert writes; `--overwrite` replaces only folders that have it."""


@dataclass(frozen=True)
class ConvertOptions:
    """Everything `convert` can be told besides its input, output and model.

    `runtime` says how the model runs (backend, device, precision, ...; see `RuntimeOptions`).
    `frame_format` applies to folder outputs (default: PNG for a video's frames, each image's own format
    for a folder); `fps` times a folder of images written as a video; `review` also writes a side-by-side
    video (input | translation) there, from the same pass, beside a video output; `progress` draws the
    progress bar (on a terminal). `ray` converts a folder of videos on Ray, one video per task (None: here, one after
    another).
    """

    runtime: RuntimeOptions = RuntimeOptions()
    batch_size: int = 8
    encode: EncodeOptions = EncodeOptions()
    resize: ResizeSpec = ResizeSpec()
    keep_size: bool = False
    side_by_side: bool = False
    review: Path | None = None
    frame_format: str | None = None
    jpeg_quality: int = 95
    fps: float = 30.0
    overwrite: bool = False
    progress: bool = True
    ray: RayOptions | None = None

    def __post_init__(self) -> None:
        check_batch_job(self.batch_size, self.ray)
        if self.keep_size and not self.resize.active:
            raise UsageError("--keep-size needs one of --size, --short-side or --scale")
        if self.review is not None and self.side_by_side:
            raise UsageError("--review writes the side-by-side video; the output itself needs no --side-by-side")
        if self.frame_format is not None and self.frame_format not in FRAME_FORMATS:
            raise UsageError(f"--frame-format must be one of {', '.join(FRAME_FORMATS)}; got {self.frame_format!r}")
        if not 1 <= self.jpeg_quality <= 100:
            raise UsageError(f"JPEG quality must be from 1 to 100; got {self.jpeg_quality!r}")
        if not 0 < self.fps <= 1000:
            raise UsageError(f"--fps must be in (0, 1000]; got {self.fps!r}")


@dataclass(frozen=True)
class ConvertSummary:
    """What `convert` did: counts, sizes, where the time went (see `PipelineResult`) and stream notes.

    Sizes are (width, height) as stored: a video's coded size before display rotation, the output's
    after padding to even (see `vidtrans.video.encode`); `input_size` is None for images.
    """

    input: Path
    output: Path
    input_kind: Kind
    output_kind: Kind
    frames: int
    bad_frames: int
    input_size: tuple[int, int] | None
    output_size: tuple[int, int] | None
    wall_s: float
    decode_s: float
    inference_s: float
    encode_s: float
    backend: str
    device: str
    precision: str
    batch_size: int
    notes: tuple[str, ...] = field(default=())
    review: Path | None = None
    """The side-by-side review video written in the same pass, if one was asked for."""

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    def line(self) -> str:
        """`translated 300 frames in 4.1s (73.2 fps): decode 0.4s, inference 3.1s, encode 0.9s -> out.mp4`."""
        bad = f", {self.bad_frames} bad" if self.bad_frames else ""
        return (f"translated {self.frames} frames{bad} in {format_duration(self.wall_s)} ({self.fps:.1f} fps): "
                f"decode {self.decode_s:.1f}s, inference {self.inference_s:.1f}s, encode {self.encode_s:.1f}s "
                f"-> {self.output}" + (f" and {self.review}" if self.review else ""))

    def problems(self) -> str:
        """A one-line reason for a non-zero exit (frames that could not be read), or ''."""
        if not self.bad_frames:
            return ""
        return (f"{self.input}: {self.bad_frames} frame(s) could not be read; {self.output} holds the {self.frames} "
                "that could")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (paths as strings, sizes as [w, h], fps included)."""
        doc = asdict(self)
        doc.update(input=str(self.input), output=str(self.output), fps=round(self.fps, 3),
                   review=str(self.review) if self.review else None,
                   notes=list(self.notes))
        for key in ("wall_s", "decode_s", "inference_s", "encode_s"):
            doc[key] = round(doc[key], 4)
        return doc


def input_kind(path: Path) -> Kind:
    """Whether `path` is a video, an image, a folder of images or a folder of videos (InputError when it does
    not exist; UsageError for a folder holding both images and videos).

    Standard input (`-`) is a video (anything FFmpeg reads); a named pipe is an image or a video by suffix.
    """
    if is_pipe(path):
        return "image" if is_image_file(path) else "video"
    if path.is_dir():
        videos = list_videos(path)
        if not videos:
            return "folder"
        images = list_images(path)
        if images:
            raise UsageError(f"{path}: holds both images ({len(images)}) and videos ({len(videos)}); convert takes "
                             "a folder of images or a folder of videos, so move one kind out")
        return "videos"
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    return "image" if is_image_file(path) else "video"


def output_kind(path: Path, *, as_given: str | None = None) -> Kind:
    """A video or image file by suffix; a folder when the path is a folder, ends in a slash or has no suffix."""
    suffix = path.suffix.lower()
    if path.is_dir() or (as_given or "").endswith(("/", os.sep)) or not suffix:
        return "folder"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    raise UsageError(f"{path}: unknown output type {suffix!r}: use {', '.join(VIDEO_SUFFIXES)} for a video, "
                     f"{', '.join(IMAGE_EXTENSIONS)} for an image, or a folder name")


_ALLOWED = {("video", "video"), ("video", "folder"), ("image", "image"), ("folder", "folder"), ("folder", "video")}


def default_output(input: Path, kind: Kind, tag: str) -> Path:
    """`clip.TAG.mp4` beside a video (its own suffix when vidtrans writes it), `photo.TAG.png`, `shots.TAG/`."""
    if kind == "folder":
        return input.with_name(f"{input.name}.{tag}")
    suffix = input.suffix.lower()
    if kind == "video" and suffix not in VIDEO_SUFFIXES:
        suffix = ".mp4"
    return input.with_name(f"{input.stem}.{tag}{suffix}")


def convert(input: str | Path, output: str | Path | None = None, *, model: str | Path | ModelDirectory,
            options: ConvertOptions | None = None,
            translator: Translator | None = None) -> ConvertSummary | VideosSummary:
    """Translate `input` into `output` (default: beside the input, named after the model).

    `model` is a registered name, a model directory or an opened `ModelDirectory`; pass `translator` to
    reuse one already loaded (it is then not closed). Raises VidtransError subclasses for bad input,
    output or options; damaged frames are counted in the summary instead. A folder of videos gives a
    `VideosSummary` (one result per video; a video that fails is listed there, not raised).
    """
    options = options or ConvertOptions()
    source_path = Path(input)
    if str(input) == STDIN and output is None:
        raise UsageError("reading standard input (-) needs an output (-o)")
    in_kind = input_kind(source_path)
    found = model if isinstance(model, ModelDirectory) else resolve_model(model)
    tag = found.name + (".inverse" if options.runtime.inverse else "")
    if in_kind == "videos":
        return _convert_videos(source_path, output, found, tag, options, translator)
    if options.ray is not None:
        raise UsageError(f"{source_path}: --engine ray converts folders of videos (one video per task); convert "
                         f"a {in_kind} without it")
    target = Path(output) if output is not None else default_output(source_path, in_kind, tag)
    out_kind = output_kind(target, as_given=str(output)) if output is not None else in_kind
    if (in_kind, out_kind) not in _ALLOWED:
        raise UsageError(f"cannot convert {in_kind} {source_path} into {out_kind} {target} (a video becomes a "
                         "video or a folder of frames, an image an image, a folder a folder or a video)")
    if target.resolve() == source_path.resolve():
        raise UsageError(f"{target}: the output would replace the input; choose another output")
    if out_kind == "video":
        check_container_codec(target, options.encode)
    review = _check_review(options.review, source_path, target, out_kind, options.encode)
    with contextlib.ExitStack() as claims:
        for claimed in (target, review) if review is not None else (target,):
            claims.enter_context(claim_output(claimed))
            check_writable_target(claimed, overwrite=options.overwrite)
        readable = claims.enter_context(seekable_input(source_path))
        if out_kind == "folder" and target.exists():
            _check_replaceable(target)
        min_size = found.info.generator.min_size
        info = _check_input(readable, in_kind, options.resize, min_size)
        own = translator is None
        if translator is None:
            translator = Translator.from_model(found, options.runtime, announce=options.progress)
        try:
            job = _Job(readable, target, in_kind, out_kind, info, translator, options, min_size,
                       name=Path(input_name(source_path)))
            return job.run()
        finally:
            if own:
                translator.close()


def _check_review(review: Path | None, source: Path, target: Path, out_kind: Kind,
                  encode: EncodeOptions) -> Path | None:
    """The --review path, once checked: a video file, in a container the encoder suits, that is neither the
    input nor the output."""
    if review is None:
        return None
    review = Path(review)
    if out_kind != "video" or output_kind(review) != "video":
        raise UsageError(f"{review}: --review writes a side-by-side video beside a video output; give video files "
                         f"for both (the output is a {out_kind})")
    if review.resolve() in (source.resolve(), target.resolve()):
        raise UsageError(f"{review}: the review video must be another file than the input and the output")
    check_container_codec(review, encode)
    return review


def _convert_videos(folder: Path, output: str | Path | None, model: ModelDirectory, tag: str,
                    options: ConvertOptions, translator: Translator | None) -> VideosSummary:
    from vidtrans.folder_of_videos import convert_videos

    target = Path(output) if output is not None else default_output(folder, "folder", tag)
    if output is not None and output_kind(target, as_given=str(output)) != "folder":
        raise UsageError(f"cannot convert the folder of videos {folder} into {target}: give a folder (-o OUT_DIR)")
    return convert_videos(folder, target, model, options, translator=translator)


def _check_input(path: Path, kind: Kind, resize: ResizeSpec, min_size: int) -> VideoInfo | list[Path]:
    if kind == "video":
        info = probe(path)
        if not info.decodable:
            raise InputError(f"{path}: no video frames decode (the video is empty or damaged)")
        check_min_size(path, resize.target(*info.size), min_size)
        return info
    images = list_images(path) if kind == "folder" else [path]
    if not images:
        raise InputError(f"{path}: no images in this folder (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return images


class _Job:
    """One conversion: picks the source and sink for the kinds, runs the pipeline, commits the output."""

    def __init__(self, input: Path, output: Path, in_kind: Kind, out_kind: Kind, info: VideoInfo | list[Path],
                 translator: Translator, options: ConvertOptions, min_size: int, *, name: Path) -> None:
        self.input, self.output = name, output
        self.readable = input
        self.in_kind, self.out_kind = in_kind, out_kind
        self.translator = translator
        self.options = options
        self.composer = Composer(keep_size=options.keep_size, side_by_side=options.side_by_side)
        keep_original = options.keep_size and (options.side_by_side or options.review is not None)
        self.reader: VideoReader | None = None
        self.images: ImageFrames | None = None
        self.source: Iterable[Frame]
        if isinstance(info, VideoInfo):
            self.reader = VideoReader(input, info=info)
            self.source = video_frames(self.reader, resize=options.resize, keep_original=keep_original)
            self.total = info.estimated_frames
            self.input_size: tuple[int, int] | None = info.size
        else:
            root = input if in_kind == "folder" else input.parent
            self.images = ImageFrames(info, root, fps=options.fps, resize=options.resize,
                                      keep_original=keep_original, min_size=min_size, skip_bad=in_kind == "folder")
            self.source = self.images
            self.total = len(info)
            self.input_size = None
        self.notes: list[str] = []
        self.output_size: tuple[int, int] | None = None

    def run(self) -> ConvertSummary:
        review = self.options.review
        with contextlib.ExitStack() as outputs:
            temporary = outputs.enter_context(atomic_path(self.output, replace=self.options.overwrite))
            review_temporary = (outputs.enter_context(atomic_path(review, replace=self.options.overwrite))
                                if review is not None else None)
            if self.out_kind == "folder":
                result = self._to_folder(temporary)
            else:
                result = self._to_file(temporary, review_temporary)
        bad = self._bad_frames()
        if bad:
            warn(f"{self.input}: {bad} frame(s) could not be read; the output holds the {result.frames} that could")
        backend = self.translator.backend
        return ConvertSummary(
            input=self.input, output=self.output, input_kind=self.in_kind, output_kind=self.out_kind,
            frames=result.frames, bad_frames=bad, input_size=self.input_size, output_size=self.output_size,
            wall_s=result.wall_s, decode_s=result.decode_s, inference_s=result.inference_s,
            encode_s=result.encode_s, backend=backend.name, device=str(backend.device),
            precision=backend.precision, batch_size=self.options.batch_size, notes=tuple(self.notes), review=review)

    def _bad_frames(self) -> int:
        if self.reader is not None:
            return self.reader.stats.bad_frames
        return len(self.images.bad) if self.images is not None else 0

    def _pipeline(self, sink: Sink) -> PipelineResult:
        with Progress(self.total, unit="frames", description=self.input.name,
                      enabled=self.options.progress) as progress:
            try:
                result = run_pipeline(self.source, self.translator, sink, batch_size=self.options.batch_size,
                                      on_progress=progress.update)
            except NonFiniteOutput as error:
                raise NonFiniteOutput(f"{self.input}: {self._describe(error.batch)}: {error}") from None
        if result.frames == 0:
            raise InputError(f"{self.input}: no frames could be read")
        return result

    def _describe(self, batch: FrameBatch | None) -> str:
        """Which frames or images a batch holds, for messages."""
        if batch is None:
            return "a batch"
        if self.reader is not None:
            return f"frames {batch.indices[0]}-{batch.indices[-1]}"
        names = [payload.name for payload in batch.payloads]
        return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")

    def _to_file(self, temporary: Path, review: Path | None) -> PipelineResult:
        if self.out_kind == "image":
            sink = ImageSink(lambda frame: temporary, composer=self.composer, quality=self.options.jpeg_quality)
            result = self._pipeline(sink)
            self.output_size = sink.size
            return result
        videos = [self._video_sink(temporary, self.composer)]
        if review is not None:
            videos.append(self._video_sink(review, Composer(keep_size=self.options.keep_size, side_by_side=True)))

        def write_all(batch: FrameBatch, translated: np.ndarray) -> None:
            for video in videos:
                video(batch, translated)

        try:
            result = self._pipeline(write_all)
            reports = [video.close() for video in videos]
        except BaseException:
            for video in videos:
                video.abort()
            raise
        if reports[0] is not None:
            self.output_size = (reports[0].width, reports[0].height)
            self.notes += reports[0].remux.notes()
        return result

    def _video_sink(self, path: Path, composer: Composer) -> VideoSink:
        """A video written with the input's timing, colour, rotation and (copied) audio."""
        return VideoSink(path, frame_rate=self._frame_rate(), options=self.options.encode, composer=composer,
                         colour=self.reader.info.colour if self.reader else None,
                         rotation=self.reader.info.rotation if self.reader else 0,
                         companion=self.readable if self.reader else None)

    def _frame_rate(self) -> Fraction:
        if self.reader is not None and self.reader.info.average_rate:
            return self.reader.info.average_rate
        return Fraction(self.options.fps).limit_denominator(1001)

    def _to_folder(self, staging: Path) -> PipelineResult:
        """Write the frames into `staging`, marked as vidtrans' own (see `_check_replaceable`)."""
        fmt = self.options.frame_format
        if self.reader is not None:
            suffix = "." + (fmt or "png")
            sink = ImageSink(lambda frame: staging / f"frame_{frame.index:06d}{suffix}", composer=self.composer,
                             quality=self.options.jpeg_quality)
        else:
            sink = ImageSink(lambda frame: _renamed(staging / frame.payload.name, fmt), composer=self.composer,
                             quality=self.options.jpeg_quality)
        staging.mkdir()
        (staging / FOLDER_MARKER).write_text(f"written by vidtrans convert from {self.input}\n", encoding="utf-8")
        result = self._pipeline(sink)
        self.output_size = sink.size
        return result


def _check_replaceable(folder: Path) -> None:
    """--overwrite replaces an empty folder, or one vidtrans wrote (it holds FOLDER_MARKER) that holds nothing
    but images; never a folder of someone's own pictures, nor one where other files were added."""
    if not folder.is_dir():
        raise OutputError(f"{folder}: exists and is not a folder; cannot write frames there")
    if not any(folder.iterdir()):
        return
    if not (folder / FOLDER_MARKER).is_file():
        raise OutputError(f"{folder}: not replacing this folder: vidtrans did not write it (it has no "
                          f"{FOLDER_MARKER} file); choose another output, or delete the folder yourself")
    others = [p for p in folder.rglob("*") if p.is_file() and not is_image_file(p) and p.name != FOLDER_MARKER]
    if others:
        raise OutputError(f"{folder}: not replacing this folder: it holds files that are not images "
                          f"(such as {others[0].relative_to(folder)}); choose another output")


def _renamed(path: Path, fmt: str | None) -> Path:
    return path.with_suffix("." + fmt) if fmt else path
