"""`vidtrans synth`: translate a labelled dataset (or sampled video frames) into OUTPUT, resumably and in shards.

    plan      find the items of INPUT (`layout`), keep this shard's (`plan`), drop those already done
              (`manifest`: an "ok" line and its files exist)
    claim     OUTPUT is this job's (`job`: `synth.json` records what decides the outputs)
    run       an engine reads, translates and writes the remaining items, recording each in this run's
              manifest part: the local engine (`local`: thread pools around the streaming pipeline) or
              Ray Data (`vidtrans.scale.synth`, `SynthOptions.ray`)

A single-shard run ends by merging the manifest parts into `OUTPUT/manifest.jsonl`; with several shards,
`vidtrans synth --merge OUTPUT` does that once all have finished. Failed items are retried by the next run.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidtrans.backends.selection import BackendChoice
from vidtrans.console import format_duration, info
from vidtrans.engines import RayOptions, check_batch_job
from vidtrans.errors import InputError, ModelError, UsageError
from vidtrans.modeldir import ModelDirectory
from vidtrans.pipes import input_name, is_pipe
from vidtrans.resize import ResizeSpec
from vidtrans.runtime import RuntimeOptions
from vidtrans.synthesis.items import ItemReader, ItemWriter
from vidtrans.synthesis.job import JOB_VERSION, check_paths, claim_output
from vidtrans.synthesis.layout import OUTPUT_FORMATS, Dataset, OutputFormat, Sampling, find_items
from vidtrans.synthesis.manifest import MANIFEST_FILE, PartWriter, completed_keys, latest_records, part_path
from vidtrans.synthesis.merge import MergeReport, finalize, remove_temporaries
from vidtrans.synthesis.plan import Shard, resolve_shard, select
from vidtrans.synthesis.work import Counts, Engine, Work

DEFAULT_WORKERS = min(8, os.cpu_count() or 1)
_LOSSY_SUFFIXES = (".jpg", ".jpeg", ".webp")


@dataclass(frozen=True)
class SynthOptions:
    """Everything `synth` can be told besides its input, output and model.

    `runtime` (how the model runs), batch size and resizing work as in `convert`; `keep_size` writes the
    translation at the source's size (so it matches the label maps) after translating at the resized one.
    `format` "auto" keeps each image's own format (PNG for video frames); `quality` applies to JPEG and WebP.
    `workers` is the local engine's decode and encode threads; `ray` runs the job on Ray instead (see
    `vidtrans.scale`), which writes the same files and manifest.
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
    """This job's part; None: the launcher's (Slurm array, torchrun's RANK/WORLD_SIZE), else the whole job."""
    workers: int | None = None
    """Decode and encode threads (with Ray: translating actors); None: DEFAULT_WORKERS, min(8, CPUs)."""
    overwrite: bool = False
    progress: bool = True
    ray: RayOptions | None = None

    def __post_init__(self) -> None:
        check_batch_job(self.batch_size, self.ray)
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
    engine: str = "local"
    startup_s: float = 0.0
    """Seconds spent starting or joining Ray (not in `wall_s`); 0 for the local engine."""

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
            if self.engine != "local":
                text += f" on {self.workers} {self.engine} worker(s) ({format_duration(self.startup_s)} to start)"
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
            "engine": self.engine, "startup_s": round(self.startup_s, 4),
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
    engine = _engine(found, options)
    dataset = find_items(source, output_format=options.format, sampling=options.sampling)
    with engine:
        choice = engine.choose_backend()
        identity = job_identity(source, dataset, found, choice, options)
        shard = options.shard
        claim_output(target, identity, overwrite=options.overwrite, sharded=shard.count > 1)
        with PartWriter(part_path(target, shard.name)) as part:
            if shard.count == 1:
                remove_temporaries(target)
            done = completed_keys(latest_records(target), target)
            mine = select(dataset.items, shard)
            todo = [item for item in mine if item.key not in done]
            counts = Counts()
            if todo:
                (target / MANIFEST_FILE).unlink(missing_ok=True)
                if options.progress:
                    info(f"synth {source} -> {target}: {len(todo)} of {len(mine)} items to translate"
                         + (f" (shard {shard})" if shard.count > 1 else "") + f"; {engine.describe(choice)}")
                base = {"model": found.name, "weights_sha256": identity["weights_sha256"],
                        "backend": choice.backend, "precision": choice.precision, "shard": str(shard)}
                writer = ItemWriter(dataset.root, target, base, keep_size=options.keep_size,
                                    quality=options.quality, link_labels=options.link_labels)
                reader = ItemReader(dataset.root, options.resize, min_size=found.info.generator.min_size)
                work = Work(todo, reader, writer, part,
                            batch_size=options.batch_size, progress=options.progress)
                counts = engine.run(work, choice)
    report = finalize(target, dataset, {"version": JOB_VERSION, **identity}) if shard.count == 1 else None
    return SynthSummary(
        input=source, output=target, shard=str(shard), planned=len(mine), already_done=len(mine) - len(todo),
        translated=counts.ok, failed=counts.failed, wall_s=counts.wall_s, decode_s=counts.decode_s,
        inference_s=counts.inference_s, encode_s=counts.encode_s, backend=choice.backend,
        device=str(choice.device), precision=choice.precision, batch_size=options.batch_size,
        workers=engine.workers, part=part.path, merge=report, notes=tuple(_notes(dataset, options)),
        engine=engine.name, startup_s=engine.startup_s)


def _engine(model: ModelDirectory, options: SynthOptions) -> Engine:
    """The engine that runs the job: Ray when `options.ray` is set, else the local one."""
    if options.ray is not None:
        from vidtrans.scale.synth import RayEngine

        return RayEngine(model, options.runtime, options.ray)
    from vidtrans.synthesis.local import LocalEngine

    return LocalEngine(model, options.runtime, workers=options.workers)


def _notes(dataset: Dataset, options: SynthOptions) -> list[str]:
    """What the user should know about the outputs (images without labels, resized images)."""
    notes = [f"{dataset.unlabelled} image(s) have no label files"] if dataset.unlabelled else []
    if options.resize.active and not options.keep_size and any(item.labels for item in dataset.items):
        notes.append("images are resized but label files are copied as they are (--keep-size writes the "
                     "translation at the source size)")
    return notes
