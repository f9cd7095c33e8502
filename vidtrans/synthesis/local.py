"""The local synth engine (the default): one process, thread pools around the shared streaming pipeline.

    decode    a thread pool reads images (OpenCV releases the GIL), in order, a bounded number ahead;
              video frames are decoded in sequence; unreadable inputs become "failed" records
    translate the shared streaming pipeline: same-sized consecutive frames in batches through the Translator
    encode    a thread pool copies the labels, encodes the image and renames it into place, then records the
              item; a bounded number in flight, so memory stays flat
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from vidtrans.backends.selection import BackendChoice, select_backend
from vidtrans.frames import Frame, FrameBatch
from vidtrans.modeldir import ModelDirectory
from vidtrans.pipeline import run_pipeline
from vidtrans.runtime import RuntimeOptions
from vidtrans.synthesis.items import Decoded, Failed, video_of
from vidtrans.synthesis.plan import local_device
from vidtrans.synthesis.work import Counts, Work
from vidtrans.translator import NonFiniteOutput, Translator


class LocalEngine:
    """Translate in this process with `workers` decode and encode threads (see the module docstring)."""

    name = "local"
    startup_s = 0.0

    def __init__(self, model: ModelDirectory, runtime: RuntimeOptions, *, workers: int) -> None:
        self.model = model
        self.runtime = dataclasses.replace(runtime, device=local_device(runtime.device))
        self.workers = workers

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def choose_backend(self) -> BackendChoice:
        return select_backend(self.runtime)

    def describe(self, choice: BackendChoice) -> str:
        return choice.describe()

    def run(self, work: Work, choice: BackendChoice) -> Counts:
        translator = Translator.from_model(self.model, self.runtime, choice=choice)
        try:
            return _Run(work, translator, self.workers).run()
        finally:
            translator.close()


class _Run:
    """One pass over the remaining items (see the module docstring)."""

    def __init__(self, work: Work, translator: Translator, workers: int) -> None:
        self.work = work
        self.translator = translator
        self.workers = workers
        self._lock = threading.Lock()
        self._encode_busy = 0.0

    def run(self) -> Counts:
        with self.work.progress(), ThreadPoolExecutor(self.workers, thread_name_prefix="vidtrans-encode") as pool:
            sink = _Sink(self, pool)
            started = time.perf_counter()
            try:
                result = run_pipeline(self._frames(), self.translator, sink, batch_size=self.work.batch_size,
                                      on_failed_batch=self._failed_batch)
                sink.finish()
            finally:
                sink.cancel()
            wall_s = time.perf_counter() - started
        return dataclasses.replace(self.work.counts, wall_s=wall_s, decode_s=result.decode_s,
                                   inference_s=result.inference_s, encode_s=self._encode_busy)

    def _failed_batch(self, batch: FrameBatch, error: NonFiniteOutput) -> None:
        """Record the items of a batch the model could not translate as failed; the job goes on."""
        for decoded in batch.payloads:
            frame = f" (frame {decoded.item.frame})" if decoded.item.frame is not None else ""
            self.work.fail(decoded.item, f"{decoded.item.source}{frame}: {error}")

    # --- decode (the pipeline's source thread and the decode pool) -------------------------------------

    def _frames(self) -> Iterator[Frame]:
        """The remaining items as frames, in plan order; at most a few dozen decoded ahead."""
        reader = self.work.reader
        keep = 2 * self.workers + self.work.batch_size
        pending: deque[Future[Frame | None] | Frame | None] = deque()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="vidtrans-decode") as pool:
            try:
                for (source, is_frame), group in itertools.groupby(self.work.todo, key=video_of):
                    if is_frame:
                        for entry in reader.video(source, list(group)):
                            pending.append(self._frame(entry))
                            yield from _ready(pending, keep)
                        continue
                    for item in group:
                        pending.append(pool.submit(lambda item=item: self._frame(reader.image(item))))
                        yield from _ready(pending, keep)
                yield from _ready(pending, 0)
            finally:
                for entry in pending:
                    if isinstance(entry, Future):
                        entry.cancel()

    def _frame(self, entry: Decoded | Failed) -> Frame | None:
        """A decoded item as a frame for the pipeline; a failed one is recorded (None)."""
        if isinstance(entry, Failed):
            self.work.fail(entry.item, entry.error)
            return None
        return Frame(pixels=entry.pixels, index=0, payload=entry)

    # --- encode (the encode pool) ----------------------------------------------------------------------

    def write(self, decoded: Decoded, pixels: np.ndarray) -> None:
        """Write one translated item and record it."""
        started = time.perf_counter()
        record = self.work.writer.write(decoded.item, pixels, decoded.source_size)
        with self._lock:
            self._encode_busy += time.perf_counter() - started
        self.work.record(record)


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
        self.keep = 2 * run.workers + run.work.batch_size
        self.pending: deque[Future[None]] = deque()

    def __call__(self, batch: FrameBatch, translated: np.ndarray) -> None:
        for frame in batch.frames(translated):
            self.pending.append(self.pool.submit(self.run.write, frame.payload, frame.pixels))
        self._collect(self.keep)
        self.run.work.part.sync()

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
