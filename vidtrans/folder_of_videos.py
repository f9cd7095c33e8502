"""`convert FOLDER -o OUT_DIR` for a folder of videos: each video converted as `convert` converts one.

A folder is a folder of videos when it holds video files (`VIDEO_EXTENSIONS`, in subfolders too) and no
images; one holding both is refused (a folder of images stays what it was). Each video becomes
`OUT_DIR/<its relative path>` (its own container when vidtrans writes it, else .mp4), written beside its
final name and renamed into place when complete. A video that fails does not stop the others: the summary
lists it, and the CLI exits with code 3.

The local engine converts the videos one after another with one Translator; with `ConvertOptions.ray`,
Ray runs one video per task on its translating actors (`vidtrans.scale.convert`). Either way each video
goes through `convert_one`, so the files are the same.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidtrans.console import format_duration
from vidtrans.errors import OutputError, UsageError, VidtransError
from vidtrans.fsutil import remove_stale_partials
from vidtrans.modeldir import ModelDirectory
from vidtrans.translator import Translator
from vidtrans.video import VIDEO_SUFFIXES, list_videos

if TYPE_CHECKING:
    from vidtrans.conversion import ConvertOptions


@dataclass(frozen=True)
class VideoJob:
    """One video of the folder and the file it becomes."""

    input: Path
    output: Path


@dataclass(frozen=True)
class VideoResult:
    """What became of one video: its convert summary (`ConvertSummary.to_dict()`), or why it failed."""

    input: Path
    output: Path
    summary: dict[str, Any] | None = None
    error: str | None = None

    @property
    def problem(self) -> str | None:
        """Why this video is not fully converted (failed, or frames that could not be read), else None."""
        if self.error is not None:
            return self.error
        bad = self.summary["bad_frames"] if self.summary else 0
        return f"{self.input}: {bad} frame(s) could not be read" if bad else None

    def to_dict(self) -> dict[str, Any]:
        return {"input": str(self.input), "output": str(self.output), "ok": self.error is None,
                "error": self.error, "summary": self.summary}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> VideoResult:
        return cls(Path(doc["input"]), Path(doc["output"]), doc["summary"], doc["error"])


@dataclass(frozen=True)
class VideosSummary:
    """What converting a folder of videos did: one result per video, in path order."""

    input: Path
    output: Path
    results: tuple[VideoResult, ...]
    wall_s: float
    engine: str = "local"
    startup_s: float = 0.0
    """Seconds spent starting or joining Ray (not in `wall_s`)."""

    @property
    def failed(self) -> list[VideoResult]:
        return [result for result in self.results if result.error is not None]

    def line(self) -> str:
        """`converted 4 of 5 videos (1 failed) in 1:02 -> OUT_DIR`."""
        failed = len(self.failed)
        return (f"converted {len(self.results) - failed} of {len(self.results)} videos"
                + (f" ({failed} failed)" if failed else "") + f" in {format_duration(self.wall_s)} -> {self.output}")

    def problems(self) -> str:
        """A one-line reason for a non-zero exit (failed videos, unreadable frames), or ''."""
        problems = [result.problem for result in self.results if result.problem]
        if not problems:
            return ""
        return (f"{self.input}: {len(problems)} of {len(self.results)} videos not fully converted: "
                + "; ".join(problems[:3]) + (" ..." if len(problems) > 3 else ""))

    def to_dict(self) -> dict[str, Any]:
        return {"input": str(self.input), "output": str(self.output), "videos": len(self.results),
                "failed": len(self.failed), "wall_s": round(self.wall_s, 4), "engine": self.engine,
                "startup_s": round(self.startup_s, 4), "results": [r.to_dict() for r in self.results]}


def output_name(relative: Path) -> Path:
    """A video's output path relative to OUT_DIR: its own, with .mp4 where vidtrans cannot write its container."""
    return relative if relative.suffix.lower() in VIDEO_SUFFIXES else relative.with_suffix(".mp4")


def plan_videos(folder: Path, videos: Sequence[Path], target: Path, *, overwrite: bool) -> list[VideoJob]:
    """The video -> output pairs; refuses outputs inside FOLDER, two videos into one file, and (without
    `overwrite`) outputs that exist."""
    source, out = folder.resolve(), target.resolve()
    if out == source or source in out.parents:
        raise UsageError(f"{target}: the output folder must not be the input folder or inside it ({folder})")
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target}: exists and is not a folder")
    jobs = [VideoJob(video, target / output_name(video.relative_to(folder))) for video in videos]
    seen: dict[Path, Path] = {}
    for job in jobs:
        other = seen.setdefault(job.output, job.input)
        if other != job.input:
            raise UsageError(f"{other} and {job.input} would both be written to {job.output}; rename one of them")
    existing = [job.output for job in jobs if job.output.exists()]
    if existing and not overwrite:
        raise OutputError(f"{existing[0]}: already exists ({len(existing)} of the {len(jobs)} outputs do; pass "
                          "--overwrite to replace them)")
    return jobs


def convert_one(job: VideoJob, model: ModelDirectory, options: ConvertOptions, translator: Translator) -> VideoResult:
    """Convert one video of the folder with `translator`; a VidtransError becomes the result's error.

    The output was checked when planning, so the file there now can only be an earlier attempt's (a Ray
    retry) and is replaced.
    """
    from vidtrans.conversion import convert

    try:
        job.output.parent.mkdir(parents=True, exist_ok=True)
        summary = convert(job.input, job.output, model=model, translator=translator,
                          options=dataclasses.replace(options, overwrite=True, ray=None))
    except VidtransError as error:
        return VideoResult(job.input, job.output, error=str(error))
    return VideoResult(job.input, job.output, summary.to_dict())  # type: ignore[union-attr]


def convert_videos(folder: Path, target: Path, model: ModelDirectory, options: ConvertOptions, *,
                   translator: Translator | None = None) -> VideosSummary:
    """Convert every video of `folder` into `target` (see the module docstring)."""
    jobs = plan_videos(folder, list_videos(folder), target, overwrite=options.overwrite)
    started = time.perf_counter()
    if options.ray is not None:
        from vidtrans.scale.convert import convert_on_ray

        results, startup_s = convert_on_ray(jobs, model, options, options.ray)
        engine = "ray"
    else:
        own = translator is None
        translator = translator or Translator.from_model(model, options.runtime, announce=options.progress)
        try:
            results = [convert_one(job, model, options, translator) for job in jobs]
        finally:
            if own:
                translator.close()
        startup_s, engine = 0.0, "local"
    for job in jobs:  # what writers killed mid-video (a lost Ray worker) left beside their outputs
        remove_stale_partials(job.output)
    return VideosSummary(input=folder, output=target, results=tuple(results),
                         wall_s=time.perf_counter() - started - startup_s, engine=engine, startup_s=startup_s)
