"""`vidtrans synth`: translate a labelled dataset (or sampled video frames) into OUTPUT, resumably and in shards.

    plan      find the items of INPUT (`layout`), keep this shard's (`plan`), drop those already done
              (`manifest`: an "ok" line and its files exist)
    decode    a thread pool reads images (OpenCV releases the GIL), in order, a bounded number ahead;
              video frames are decoded in sequence; unreadable inputs become "failed" lines
    translate the shared streaming pipeline: same-sized consecutive frames in batches through the Translator
    encode    a thread pool copies the labels, encodes the image and renames it into place, then appends
              the item's manifest line; a bounded number in flight, so memory stays flat

A single-shard run ends by merging the manifest parts into `OUTPUT/manifest.jsonl`; with several shards,
`vidtrans synth --merge OUTPUT` does that once all have finished. Failed items are retried by the next run.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidtrans.backends.selection import BackendChoice, select_backend
from vidtrans.console import Progress, format_duration, info
from vidtrans.errors import InputError, ModelError, OutputError, UsageError
from vidtrans.frames import Frame, FrameBatch, check_min_size
from vidtrans.fsutil import atomic_path
from vidtrans.images import encode_image, read_image
from vidtrans.modeldir import ModelDirectory
from vidtrans.pipeline import run_pipeline
from vidtrans.pipes import input_name, is_pipe
from vidtrans.resize import ResizeSpec, resize_rgb
from vidtrans.runtime import RuntimeOptions
from vidtrans.sources import upright
from vidtrans.synthesis.job import JOB_VERSION, check_paths, claim_output
from vidtrans.synthesis.labels import place_label
from vidtrans.synthesis.layout import OUTPUT_FORMATS, Dataset, Item, OutputFormat, Sampling, find_items
from vidtrans.synthesis.manifest import MANIFEST_FILE, PartWriter, Record, completed_keys, latest_records, part_path
from vidtrans.synthesis.merge import MergeReport, finalize, remove_temporaries
from vidtrans.synthesis.plan import Shard, local_device, resolve_shard, select
from vidtrans.translator import NonFiniteOutput, Translator
from vidtrans.video import VideoReader

DEFAULT_WORKERS = min(8, os.cpu_count() or 1)
_LOSSY_SUFFIXES = (".jpg", ".jpeg", ".webp")


@dataclass(frozen=True)
class SynthOptions:
    """Everything `synth` can be told besides its input, output and model.

    `runtime` (how the model runs), batch size and resizing work as in `convert`; `keep_size` writes the
    translation at the source's size (so it matches the label maps) after translating at the resized one.
    `format` "auto" keeps each image's own format (PNG for video frames); `quality` applies to JPEG and WebP.
    """

    runtime: RuntimeOptions = RuntimeOptions()
    batch_size: int = 8
    resize: ResizeSpec = ResizeSpec()
    keep_size: bool = False
    format: OutputFormat = "auto"
    quality: int = 95
    link_labels: bool = False
    sampling: Sampling = Sampling()
    shard: Shard | None = None
    """This job's part; None: the launcher's (RANK/WORLD_SIZE under torchrun), else the whole job."""
    workers: int | None = None
    """Decode and encode threads; None: DEFAULT_WORKERS, min(8, CPUs)."""
    overwrite: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise UsageError(f"--batch-size must be a positive integer; got {self.batch_size!r}")
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 1):
            raise UsageError(f"--workers must be a positive integer; got {self.workers!r}")
        if self.format not in OUTPUT_FORMATS:
            raise UsageError(f"--format must be one of {', '.join(OUTPUT_FORMATS)}; got {self.format!r}")
        if not 1 <= self.quality <= 100:
            raise UsageError(f"--quality must be from 1 to 100; got {self.quality!r}")
        if self.keep_size and not self.resize.active:
            raise UsageError("--keep-size needs one of --size, --short-side or --scale")


@dataclass(frozen=True)
class SynthSummary:
    """What one synth run did (this shard), and for a single-shard run the state of the whole job."""

    input: Path
    output: Path
    shard: str
    planned: int
    """Items of this shard."""
    already_done: int
    """Items of this shard done by earlier runs (skipped)."""
    translated: int
    failed: int
    wall_s: float
    """Seconds spent translating (model loading and planning excluded)."""
    decode_s: float
    inference_s: float
    encode_s: float
    backend: str
    device: str
    precision: str
    batch_size: int
    workers: int
    part: Path
    merge: MergeReport | None = None
    """The whole job's state, after a single-shard run."""
    notes: tuple[str, ...] = field(default=())

    @property
    def processed(self) -> int:
        return self.translated + self.failed

    @property
    def items_per_second(self) -> float:
        return self.processed / self.wall_s if self.wall_s > 0 else 0.0

    def line(self) -> str:
        """One line for the terminal."""
        shard = f"shard {self.shard}: " if self.shard != "0/1" else ""
        if self.processed:
            text = (f"{shard}translated {self.translated} items, {self.failed} failed, {self.already_done} already "
                    f"done, in {format_duration(self.wall_s)} ({self.items_per_second:.1f} items/s)")
        else:
            text = f"{shard}nothing to translate: all {self.already_done} items already done"
        if self.merge is not None:
            return f"{text}; {self.merge.line()}"
        return f"{text}; run `vidtrans synth --merge {self.output}` once every shard has finished"

    def problems(self) -> str:
        """A one-line reason for a non-zero exit, or '' when every item of this run's scope is done."""
        if self.merge is not None:
            return self.merge.problems()
        if self.failed:
            return (f"{self.output}: {self.failed} item(s) of shard {self.shard} failed (see "
                    f"{self.part.relative_to(self.output)}; a rerun retries them)")
        return ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, items/s included."""
        return {
            "input": str(self.input), "output": str(self.output), "shard": self.shard, "planned": self.planned,
            "already_done": self.already_done, "translated": self.translated, "failed": self.failed,
            "wall_s": round(self.wall_s, 4), "items_per_second": round(self.items_per_second, 3),
            "decode_s": round(self.decode_s, 4), "inference_s": round(self.inference_s, 4),
            "encode_s": round(self.encode_s, 4), "backend": self.backend, "device": self.device,
            "precision": self.precision, "batch_size": self.batch_size, "workers": self.workers,
            "part": str(self.part), "merge": self.merge.to_dict() if self.merge else None, "notes": list(self.notes),
        }


def job_identity(input: Path, dataset: Dataset, model: ModelDirectory, choice: BackendChoice,
                 options: SynthOptions) -> dict[str, Any]:
    """What `synth.json` records: everything that decides the items and their outputs.

    Options that cannot change anything are left out (quality without JPEG or WebP outputs, frame sampling
    without videos), so giving them on a rerun does not refuse the job.
    """
    if options.runtime.inverse and not model.info.has_inverse:
        raise ModelError(f"{model.path}: this model has no inverse generator ({model.info.target_domain} -> "
                         f"{model.info.source_domain})")
    role = "generator_inverse" if options.runtime.inverse else "generator"
    lossy = any(Path(item.output or "").suffix.lower() in _LOSSY_SUFFIXES for item in dataset.items)
    videos = any(item.frame is not None or item.problem for item in dataset.items)
    return {
        "input": str(input.resolve()), "layout": dataset.kind, "model": model.name,
        "weights_sha256": model.sha256[role], "inverse": options.runtime.inverse, "format": options.format,
        "quality": options.quality if lossy else None,
        "resize": {"size": list(options.resize.size) if options.resize.size else None,
                   "short_side": options.resize.short_side, "scale": options.resize.scale,
                   "keep_size": options.keep_size},
        "sampling": {"every": options.sampling.every if videos else None,
                     "fps": options.sampling.fps if videos else None},
        "backend": choice.backend, "precision": choice.precision,
    }


def synth(input: str | Path, output: str | Path, *, model: str | Path | ModelDirectory,
          options: SynthOptions | None = None) -> SynthSummary:
    """Translate this shard's remaining items of `input` into `output` (see the module docstring).

    Raises VidtransError subclasses for bad input, output or options; unreadable items are recorded as
    failed instead (see `SynthSummary.problems`).
    """
    from vidtrans.registry import resolve_model

    options = options or SynthOptions()
    options = dataclasses.replace(options, shard=resolve_shard(options.shard),
                                  workers=options.workers or DEFAULT_WORKERS)
    source, target = Path(input), Path(output)
    if is_pipe(source):
        raise InputError(f"{input_name(source)}: is a pipe; synth reads its input more than once (and again on "
                         "every rerun), so save it to a file first")
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    check_paths(source, target)
    found = model if isinstance(model, ModelDirectory) else resolve_model(model)
    runtime = dataclasses.replace(options.runtime, device=local_device(options.runtime.device))
    choice = select_backend(runtime)
    dataset = find_items(source, output_format=options.format, sampling=options.sampling)
    identity = job_identity(source, dataset, found, choice, options)
    shard = options.shard
    claim_output(target, identity, overwrite=options.overwrite, sharded=shard.count > 1)
    notes = [f"{dataset.unlabelled} image(s) have no label files"] if dataset.unlabelled else []
    if options.resize.active and not options.keep_size and any(item.labels for item in dataset.items):
        notes.append("images are resized but label files are copied as they are (--keep-size writes the "
                     "translation at the source size)")
    with PartWriter(part_path(target, shard.name)) as part:
        if shard.count == 1:
            remove_temporaries(target)
        done = completed_keys(latest_records(target), target)
        mine = select(dataset.items, shard)
        todo = [item for item in mine if item.key not in done]
        counts = _Counts()
        if todo:
            (target / MANIFEST_FILE).unlink(missing_ok=True)
            if options.progress:
                info(f"synth {source} -> {target}: {len(todo)} of {len(mine)} items to translate"
                     + (f" (shard {shard})" if shard.count > 1 else "") + f"; {choice.describe()}")
            translator = Translator.from_model(found, runtime, choice=choice)
            try:
                base = {"model": found.name, "weights_sha256": identity["weights_sha256"],
                        "backend": choice.backend, "precision": choice.precision, "shard": str(shard)}
                counts = _Run(dataset, target, todo, translator, part, base, options,
                              min_size=found.info.generator.min_size).run()
            finally:
                translator.close()
    report = finalize(target, dataset, {"version": JOB_VERSION, **identity}) if shard.count == 1 else None
    return SynthSummary(
        input=source, output=target, shard=str(shard), planned=len(mine), already_done=len(mine) - len(todo),
        translated=counts.ok, failed=counts.failed, wall_s=counts.wall_s, decode_s=counts.decode_s,
        inference_s=counts.inference_s, encode_s=counts.encode_s, backend=choice.backend,
        device=str(choice.device), precision=choice.precision, batch_size=options.batch_size,
        workers=options.workers, part=part.path, merge=report, notes=tuple(notes))


@dataclass
class _Counts:
    ok: int = 0
    failed: int = 0
    wall_s: float = 0.0
    decode_s: float = 0.0
    inference_s: float = 0.0
    encode_s: float = 0.0


@dataclass(frozen=True)
class _Work:
    """The payload a frame carries through the pipeline: its item and the size it was decoded at."""

    item: Item
    source_size: tuple[int, int]


class _Run:
    """One pass over the remaining items of a shard (see the module docstring)."""

    def __init__(self, dataset: Dataset, output: Path, todo: list[Item], translator: Translator, part: PartWriter,
                 base: Record, options: SynthOptions, *, min_size: int = 1) -> None:
        self.dataset = dataset
        self.output = output
        self.todo = todo
        self.translator = translator
        self.part = part
        self.base = base
        self.options = options
        self.min_size = min_size
        self.counts = _Counts()
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._encode_busy = 0.0

    def run(self) -> _Counts:
        progress = Progress(len(self.todo), unit="items", description="synth", enabled=self.options.progress)
        with progress, ThreadPoolExecutor(self.options.workers, thread_name_prefix="vidtrans-encode") as encoders:
            self._progress = progress
            sink = _Sink(self, encoders)
            started = time.perf_counter()
            try:
                result = run_pipeline(self._frames(), self.translator, sink, batch_size=self.options.batch_size,
                                      on_failed_batch=self._failed_batch)
                sink.finish()
            finally:
                sink.cancel()
                self.part.sync()
            self.counts.wall_s = time.perf_counter() - started
        self.counts.decode_s, self.counts.inference_s = result.decode_s, result.inference_s
        self.counts.encode_s = self._encode_busy
        return self.counts

    # --- bookkeeping (any thread) ----------------------------------------------------------------------

    def record(self, item: Item, *, error: str | None = None, size: tuple[int, int] | None = None,
               source_size: tuple[int, int] | None = None) -> None:
        """Append the item's manifest line ("ok" unless `error`) and advance the progress bar."""
        ok = error is None
        self.part.write({
            "type": "item", "key": item.key, "status": "ok" if ok else "failed", "source": item.source,
            "frame": item.frame, "output": item.output if ok else None, "labels": list(item.labels) if ok else [],
            "size": list(size) if size else None, "source_size": list(source_size) if source_size else None,
            **self.base, "error": error,
        })
        with self._lock:
            if ok:
                self.counts.ok += 1
            else:
                self.counts.failed += 1
            if self._progress is not None:
                self._progress.update(1, failed=self.counts.failed)

    def _failed_batch(self, batch: FrameBatch, error: NonFiniteOutput) -> None:
        """Record the items of a batch the model could not translate as failed; the job goes on."""
        for work in batch.payloads:
            frame = f" (frame {work.item.frame})" if work.item.frame is not None else ""
            self.record(work.item, error=f"{work.item.source}{frame}: {error}")

    # --- decode (the pipeline's source thread and the decode pool) -------------------------------------

    def _frames(self) -> Iterator[Frame]:
        """The remaining items as frames, in plan order; at most a few dozen decoded ahead."""
        workers = self.options.workers
        keep = 2 * workers + self.options.batch_size
        pending: deque[Future[Frame | None] | Frame] = deque()
        with ThreadPoolExecutor(workers, thread_name_prefix="vidtrans-decode") as pool:
            try:
                for (source, is_frame), group in itertools.groupby(self.todo, key=_video_of):
                    items = list(group)
                    if is_frame:
                        for frame in self._video_frames(source, items):
                            pending.append(frame)
                            yield from _ready(pending, keep)
                        continue
                    for item in items:
                        if item.problem is not None:
                            self.record(item, error=item.problem)
                            continue
                        pending.append(pool.submit(self._read_image, item))
                        yield from _ready(pending, keep)
                yield from _ready(pending, 0)
            finally:
                for entry in pending:
                    if isinstance(entry, Future):
                        entry.cancel()

    def _read_image(self, item: Item) -> Frame | None:
        path = self.dataset.root / item.source
        try:
            return self._frame(item, read_image(path), path)
        except InputError as error:
            self.record(item, error=str(error))
            return None

    def _frame(self, item: Item, pixels: np.ndarray, name: object) -> Frame:
        """The item's frame at the size it is translated at; an InputError naming `name` when too small."""
        height, width = pixels.shape[:2]
        resize = self.options.resize
        if resize.active:
            pixels = resize_rgb(pixels, resize.target(width, height))
        check_min_size(name, (pixels.shape[1], pixels.shape[0]), self.min_size)
        return Frame(pixels=np.ascontiguousarray(pixels), index=0, payload=_Work(item, (width, height)))

    def _video_frames(self, source: str, items: list[Item]) -> Iterator[Frame]:
        """The wanted frames of one video, decoded in sequence and identified by their timestamps (a frame
        that does not decode never shifts the others); those that never come are recorded failed."""
        root = self.dataset.root
        path = root if root.is_file() else root / source
        wanted = {item.frame: item for item in items}
        last = max(wanted)  # type: ignore[type-var]
        reader: VideoReader | None = None
        problem: str | None = None
        try:
            reader = VideoReader(path)
            frames = reader.frames(every=math.gcd(*wanted) or 1)  # type: ignore[arg-type]
            try:
                for decoded in frames:
                    item = wanted.pop(decoded.index, None)
                    if item is not None:
                        try:
                            frame = self._frame(item, upright(decoded.pixels, reader.info.rotation),
                                                f"{path} frame {decoded.index}")
                        except InputError as error:
                            self.record(item, error=str(error))
                        else:
                            yield frame
                    if not wanted or decoded.index >= last:
                        break
            finally:
                frames.close()
        except InputError as error:
            problem = str(error)
        for index, item in wanted.items():
            self.record(item, error=problem or _missing_frame(path, index, reader))

    # --- encode (the encode pool) ----------------------------------------------------------------------

    def write(self, work: _Work, pixels: np.ndarray) -> None:
        """Place the labels, encode and write the translation, then record the item."""
        started = time.perf_counter()
        item = work.item
        if self.options.keep_size:
            pixels = resize_rgb(pixels, work.source_size)
        target = self.output / item.output  # type: ignore[operator]
        try:
            for label in item.labels:
                place_label(self.dataset.root / label, self.output / label, link=self.options.link_labels)
            data = encode_image(pixels, target.suffix, quality=self.options.quality)
        except (InputError, ValueError) as error:
            self.record(item, error=str(error))
            return
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(target) as temporary:
                temporary.write_bytes(data)
        except OSError as error:
            raise OutputError(f"{target}: cannot write ({error.strerror or error})") from None
        with self._lock:
            self._encode_busy += time.perf_counter() - started
        self.record(item, size=(pixels.shape[1], pixels.shape[0]), source_size=work.source_size)


def _missing_frame(path: Path, index: int, reader: VideoReader | None) -> str:
    """Why frame `index` of a video never came."""
    timeline = reader.timeline if reader is not None else None
    if timeline is None or not timeline.exact or index >= timeline.frame_count:
        return f"{path}: frame {index} could not be read (the video is damaged or shorter than planned)"
    return (f"{path}: frame {index} (at {timeline.seconds(index):.3f}s) could not be decoded (its data is damaged "
            "or missing from the file)")


def _video_of(item: Item) -> tuple[str, bool]:
    """Groups consecutive items by source, telling video frames from images."""
    return item.source, item.frame is not None


def _ready(pending: deque, keep: int) -> Iterator[Frame]:
    """Pop decoded frames off the front until at most `keep` are pending (waiting for each in order)."""
    while len(pending) > keep:
        entry = pending.popleft()
        frame = entry.result() if isinstance(entry, Future) else entry
        if frame is not None:
            yield frame


class _Sink:
    """The pipeline's sink: hands each translated frame to the encode pool, a bounded number in flight."""

    def __init__(self, run: _Run, pool: ThreadPoolExecutor) -> None:
        self.run = run
        self.pool = pool
        self.keep = 2 * run.options.workers + run.options.batch_size
        self.pending: deque[Future[None]] = deque()

    def __call__(self, batch: FrameBatch, translated: np.ndarray) -> None:
        for frame in batch.frames(translated):
            self.pending.append(self.pool.submit(self.run.write, frame.payload, frame.pixels))
        self._collect(self.keep)
        self.run.part.sync()

    def _collect(self, keep: int) -> None:
        """Wait until at most `keep` writes are in flight; collect finished ones (raising their errors)."""
        while self.pending and (len(self.pending) > keep or self.pending[0].done()):
            self.pending.popleft().result()

    def finish(self) -> None:
        self._collect(0)

    def cancel(self) -> None:
        """Drop writes that have not started (after an error or Ctrl-C); running ones finish."""
        for future in self.pending:
            future.cancel()
