"""`vidtrans convert FOLDER_OF_VIDEOS --engine ray`: one video per task on translating actors.

Each actor loads the model once and converts the videos it is given with `convert_one`, exactly as the
local engine does (decode, batches, encode in the actor's threads; the output renamed into place when
complete). Ray restarts an actor that dies and gives its video to an actor again; the video is converted
from the start, and the half-written temporary file of the dead attempt is deleted at the end.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidtrans.console import Progress
from vidtrans.engines import RayOptions
from vidtrans.folder_of_videos import VideoJob, VideoResult, convert_one
from vidtrans.modeldir import ModelDirectory
from vidtrans.errors import VidtransError
from vidtrans.scale.cluster import connect, fatal_row, import_ray, plan_workers, quiet_data, raise_fatal
from vidtrans.translator import Translator

if TYPE_CHECKING:
    from vidtrans.conversion import ConvertOptions


def convert_on_ray(jobs: list[VideoJob], model: ModelDirectory, options: ConvertOptions,
                   where: RayOptions) -> tuple[list[VideoResult], float]:
    """Convert `jobs` on the Ray cluster `where` says; returns the results in the jobs' order and Ray's
    start-up seconds."""
    ray = import_ray()
    with connect(where) as cluster:
        plan = plan_workers(cluster, where, options.runtime)
        each = dataclasses.replace(options, runtime=plan.runtime, ray=None, progress=False)
        rows = [{"input": str(job.input), "output": str(job.output)} for job in jobs]
        data = ray.data.from_items(rows, override_num_blocks=len(rows))
        data = data.map_batches(_Convert, batch_size=1, **plan.actors(ray),
                                fn_constructor_kwargs={"model": model, "options": each})
        done: dict[Path, VideoResult] = {}
        with Progress(len(jobs), unit="videos", description="convert", enabled=options.progress) as progress, \
                quiet_data(ray):
            for batch in data.iter_batches(batch_size=None, batch_format="numpy"):
                raise_fatal(batch["fatal"])
                for text in batch["result"]:
                    result = VideoResult.from_dict(json.loads(text))
                    done[result.input] = result
                    progress.update(1, failed=sum(r.error is not None for r in done.values()))
    return [done[job.input] for job in jobs], cluster.startup_s


class _Convert:
    """A translating actor: the model is loaded once, then each video it is given is converted.

    A model that does not load here is reported with every video (see `fatal_row`), which stops the job.
    """

    def __init__(self, model: ModelDirectory, options: ConvertOptions) -> None:
        self.model = model
        self.options = options
        self.fatal = ""
        try:
            self.translator = Translator.from_model(model, options.runtime, announce=False)
        except VidtransError as error:
            self.fatal = fatal_row(error)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        jobs = [VideoJob(Path(source), Path(target)) for source, target in zip(batch["input"], batch["output"])]
        results = [] if self.fatal else [convert_one(job, self.model, self.options, self.translator) for job in jobs]
        return {"result": np.array([json.dumps(result.to_dict()) for result in results] or [""] * len(jobs),
                                   dtype=object),
                "fatal": np.array([self.fatal] * len(jobs), dtype=object)}
