"""`vidtrans synth --engine ray`: the job's remaining items as a Ray Data pipeline.

    list       the driver plans the job as the local engine does (items, shard, resume, `synth.json`) and
               cuts the remaining items into chunks: every video's frames in one (decoded in one pass),
               images in runs of a few batches
    decode     CPU tasks read a chunk with `ItemReader` and stream its decoded items out in batches
    translate  an actor pool, one `Translator` per actor (loaded once, `--gpus-per-worker` GPUs each),
               batches of `--batch-size`; consecutive same-sized items are translated together
    write      CPU tasks write each item with `ItemWriter` (labels, encode, rename into place) and return
               its manifest record
    record     the driver appends each record to this run's manifest part, the one writer of that part

Unreadable items travel through as failures and become "failed" records, as locally. Ray retries a task
whose worker dies and restarts a dead actor and retries its batches; a retried write renames the same
file into place again, and the driver receives each item's record once (from the attempt that finished),
so every item is recorded exactly once and no final name ever holds a partial file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from vidtrans.backends.selection import BackendChoice, select_backend
from vidtrans.engines import RayOptions
from vidtrans.errors import ModelError, VidtransError
from vidtrans.modeldir import ModelDirectory
from vidtrans.runtime import RuntimeOptions
from vidtrans.scale.cluster import (TASK_CPUS, Cluster, WorkerPlan, connect, fatal_row, import_ray, plan_workers,
                                    quiet_data, raise_fatal, worker_errors)
from vidtrans.synthesis.items import Decoded, ItemReader, ItemWriter, item_from_json, item_to_json
from vidtrans.synthesis.layout import Item
from vidtrans.synthesis.work import Counts, Work
from vidtrans.translator import NonFiniteOutput, Translator

MAX_CHUNKS = 10_000
"""At most this many runs of images: the driver holds the list, so huge jobs get longer runs."""
_NO_PIXELS = np.zeros((1, 1, 3), np.uint8)


class RayEngine:
    """Run a synth job's remaining items on Ray (see the module docstring)."""

    name = "ray"

    def __init__(self, model: ModelDirectory, runtime: RuntimeOptions, options: RayOptions) -> None:
        self.ray = import_ray()
        self.model = model
        self.runtime = runtime
        self.options = options
        self.workers = 0
        self.startup_s = 0.0
        self._stack = contextlib.ExitStack()
        self._where = ""

    def __enter__(self) -> RayEngine:
        self.cluster: Cluster = self._stack.enter_context(connect(self.options))
        self.plan: WorkerPlan = plan_workers(self.cluster, self.options, self.runtime)
        self.workers, self.startup_s = self.plan.workers, self.cluster.startup_s
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def choose_backend(self) -> BackendChoice:
        """Resolved by a task with a worker's resources, so the choice is the workers', not this machine's."""
        probe = self.ray.remote(_choose).options(num_cpus=TASK_CPUS, num_gpus=self.plan.gpus)
        with worker_errors():
            choice, self._where = self.ray.get(probe.remote(self.plan.runtime))
        return choice

    def describe(self, choice: BackendChoice) -> str:
        return f"on {self.cluster.describe()}: {self.plan.describe()}; {self._where}"

    def run(self, work: Work, choice: BackendChoice) -> Counts:
        ray = self.ray
        chunks = [{"items": json.dumps([item_to_json(item) for item in chunk])}
                  for chunk in chunk_items(work.todo, work.batch_size)]
        data = ray.data.from_items(chunks, override_num_blocks=len(chunks))
        data = data.map_batches(_decode, batch_size=1, num_cpus=TASK_CPUS,
                                fn_kwargs={"reader": work.reader, "batch_size": work.batch_size})
        data = data.map_batches(_Translate, batch_size=work.batch_size, **self.plan.actors(ray),
                                fn_constructor_kwargs={"model": self.model, "runtime": self.plan.runtime,
                                                       "choice": (choice.backend, choice.precision)})
        data = data.map_batches(_write, num_cpus=TASK_CPUS, fn_kwargs={"writer": work.writer})
        times = dict.fromkeys(("decode_s", "inference_s", "encode_s"), 0.0)
        started = time.perf_counter()
        with work.progress(), quiet_data(ray):
            for batch in data.iter_batches(batch_size=None, batch_format="numpy"):
                for record in batch["record"]:
                    if record:
                        work.record(json.loads(record))
                raise_fatal(batch["fatal"])
                for key in times:
                    times[key] += float(np.sum(batch[key]))
        return dataclasses.replace(work.counts, wall_s=time.perf_counter() - started, **times)


def chunk_items(todo: list[Item], batch_size: int) -> list[list[Item]]:
    """What each decode task reads: one video's frames, or a run of consecutive images (see MAX_CHUNKS)."""
    images = sum(1 for item in todo if item.frame is None)
    run = max(4 * batch_size, math.ceil(images / MAX_CHUNKS))
    chunks: list[list[Item]] = []
    for video, group in itertools.groupby(todo, key=lambda item: item.source if item.frame is not None else None):
        items = list(group)
        chunks += [items] if video is not None else [items[i:i + run] for i in range(0, len(items), run)]
    return chunks


def _choose(runtime: RuntimeOptions) -> tuple[BackendChoice, str]:
    choice = select_backend(runtime)
    return choice, choice.describe()


def _decode(chunk: dict[str, np.ndarray], *, reader: ItemReader, batch_size: int) -> Iterator[dict[str, Any]]:
    """A chunk's items decoded, in batches of `batch_size` rows; a failure is a row with its error."""
    rows: list[tuple[str, np.ndarray, tuple[int, int], str, float]] = []
    for text in chunk["items"]:
        entries = reader.all(item_from_json(doc) for doc in json.loads(text))
        while True:
            started = time.perf_counter()
            entry = next(entries, None)
            if entry is None:
                break
            item = json.dumps(item_to_json(entry.item))
            seconds = time.perf_counter() - started
            if isinstance(entry, Decoded):
                rows.append((item, entry.pixels, entry.source_size, "", seconds))
            else:
                rows.append((item, _NO_PIXELS, (0, 0), entry.error, seconds))
            if len(rows) == batch_size:
                yield _decoded_batch(rows)
                rows = []
    if rows:
        yield _decoded_batch(rows)


def _decoded_batch(rows: list[tuple[str, np.ndarray, tuple[int, int], str, float]]) -> dict[str, Any]:
    items, pixels, sizes, errors, seconds = zip(*rows)
    return {"item": np.array(items, dtype=object), "pixels": list(pixels),
            "width": np.array([w for w, _ in sizes]), "height": np.array([h for _, h in sizes]),
            "error": np.array(errors, dtype=object), "decode_s": np.array(seconds),
            "fatal": np.array([""] * len(items), dtype=object)}


class _Translate:
    """A translating actor: the model is loaded once, then every batch it is given is translated.

    A model that does not load here is reported with every batch (see `fatal_row`), which stops the job.
    """

    def __init__(self, model: ModelDirectory, runtime: RuntimeOptions, choice: tuple[str, str]) -> None:
        self.fatal = ""
        try:
            here = select_backend(runtime)
            if (here.backend, here.precision) != choice:
                raise ModelError(f"{model.path}: this Ray worker would run backend {here.backend} at "
                                 f"{here.precision}, but the job runs {choice[0]} at {choice[1]}; install the same "
                                 "packages on every node")
            self.translator = Translator.from_model(model, runtime, choice=here, announce=False)
        except VidtransError as error:
            self.fatal = fatal_row(error)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        if self.fatal:
            return {**batch, "inference_s": np.zeros(len(batch["fatal"])),
                    "fatal": np.array([self.fatal] * len(batch["fatal"]), dtype=object)}
        pixels = list(batch["pixels"])
        translated = list(pixels)
        errors = list(batch["error"])
        seconds = np.zeros(len(pixels))
        ready = [i for i, error in enumerate(errors) if not error]
        for _, run in itertools.groupby(ready, key=lambda i: pixels[i].shape):
            rows = list(run)
            started = time.perf_counter()
            try:
                result = self.translator.translate(np.stack([pixels[i] for i in rows]))
            except NonFiniteOutput as failure:  # these items fail, as in the local engine; the job goes on
                for i in rows:
                    item = item_from_json(json.loads(batch["item"][i]))
                    frame = f" (frame {item.frame})" if item.frame is not None else ""
                    errors[i] = f"{item.source}{frame}: {failure}"
                continue
            for i, out in zip(rows, result):
                translated[i] = out
            seconds[rows] = (time.perf_counter() - started) / len(rows)
        return {**batch, "pixels": translated, "error": np.array(errors, dtype=object), "inference_s": seconds}


def _write(batch: dict[str, np.ndarray], *, writer: ItemWriter) -> dict[str, Any]:
    """Write each translated item; its manifest record (JSON) is the row passed back to the driver.

    An item that cannot be written (the disk, not the item, is at fault) stops the job: its row carries the
    error and the items after it are not written.
    """
    records = [""] * len(batch["item"])
    seconds = np.zeros(len(records))
    fatal = list(batch["fatal"])
    for i, (text, pixels, width, height, error) in enumerate(zip(batch["item"], batch["pixels"], batch["width"],
                                                                 batch["height"], batch["error"])):
        if any(fatal):
            break
        started = time.perf_counter()
        item = item_from_json(json.loads(text))
        try:
            record = writer.record(item, error=error) if error else writer.write(item, pixels, (int(width), int(height)))
        except VidtransError as failure:
            fatal[i] = fatal_row(failure)
            break
        records[i] = json.dumps(record, ensure_ascii=False)
        seconds[i] = time.perf_counter() - started
    return {"record": np.array(records, dtype=object), "encode_s": seconds, "decode_s": batch["decode_s"],
            "inference_s": batch["inference_s"], "fatal": np.array(fatal, dtype=object)}
