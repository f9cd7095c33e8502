"""The streaming pipeline: source -> batches -> translator -> sink, with decode and encode in threads.

    source thread    iterate the source (decode, read images), stack same-sized consecutive frames
                     into batches of up to `batch_size` (in pinned memory on CUDA)
    calling thread   submit each batch to the translator, keeping two in flight so the device works
                     while the host waits
    sink thread      hand each translated batch to the sink (encode, write images)

The queues between them hold a few batches, so memory stays flat however long the source. An error in
any stage, or Ctrl-C, stops all three: the threads finish their current item and exit, nothing is left
waiting, and the error is raised in the calling thread. The source iterator is closed in its thread.
A batch the model translates to NaN or infinity never reaches the sink: it goes to `on_failed_batch`
when given (which may record its frames as failed and let the job go on), else stops the pipeline with
`NonFiniteOutput` carrying the batch.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from vidtrans.frames import Frame, FrameBatch
from vidtrans.translator import NonFiniteOutput, PendingBatch, Translator

Sink = Callable[[FrameBatch, np.ndarray], None]
"""Receives each source batch with its translation ((N, H', W', 3) uint8), in order."""
FailedBatch = Callable[[FrameBatch, NonFiniteOutput], None]
"""Receives a batch that could not be translated, with the reason (called in the calling thread)."""

_POLL_S = 0.05


@dataclass(frozen=True)
class PipelineResult:
    """How much went through and where the time went.

    The stage times are busy time in each thread (decode: reading the source and batching; inference:
    submitting batches and waiting for their results; encode: the sink). They overlap, so their sum
    exceeds `wall_s` when the pipeline runs well; the largest is the bottleneck.
    """

    frames: int
    batches: int
    wall_s: float
    decode_s: float
    inference_s: float
    encode_s: float

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0


class _End:
    """The marker a stage puts on its queue when its input is exhausted."""


def batches(frames: Iterable[Frame], batch_size: int, *,
            allocate: Callable[[tuple[int, ...]], np.ndarray] | None = None) -> Generator[FrameBatch, None, None]:
    """Group consecutive frames of the same size and time base into batches of at most `batch_size`."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    kwargs: dict[str, Any] = {"allocate": allocate} if allocate else {}
    pending: list[Frame] = []
    for frame in frames:
        if pending and (frame.pixels.shape != pending[0].pixels.shape or frame.time_base != pending[0].time_base):
            yield FrameBatch.stack(pending, **kwargs)
            pending = []
        pending.append(frame)
        if len(pending) == batch_size:
            yield FrameBatch.stack(pending, **kwargs)
            pending = []
    if pending:
        yield FrameBatch.stack(pending, **kwargs)


class _Stage(threading.Thread):
    """A daemon thread running `work`; an error is kept for the calling thread and stops the pipeline."""

    def __init__(self, name: str, work: Callable[[], None], stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self._work = work
        self._stop_event = stop
        self.error: BaseException | None = None
        self.busy_s = 0.0

    def run(self) -> None:
        try:
            self._work()
        except BaseException as error:  # noqa: BLE001 - handed to the calling thread
            self.error = error
            self._stop_event.set()


def _put(q: queue.Queue, item: object, stop: threading.Event) -> bool:
    """Put `item` unless the pipeline is stopping; False when stopped."""
    while not stop.is_set():
        try:
            q.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue, stop: threading.Event) -> object | None:
    """The next item, or None once the pipeline is stopping."""
    while not stop.is_set():
        try:
            return q.get(timeout=_POLL_S)
        except queue.Empty:
            continue
    return None


def run_pipeline(source: Iterable[Frame], translator: Translator, sink: Sink, *, batch_size: int = 8,
                 queue_batches: int = 3, on_progress: Callable[[int], None] | None = None,
                 on_failed_batch: FailedBatch | None = None) -> PipelineResult:
    """Stream `source` through `translator` into `sink`; returns counts and stage times.

    `on_progress(n)` is called from the sink thread after each batch of n frames is written. A batch whose
    translation is not finite goes to `on_failed_batch`, or without one raises `NonFiniteOutput` (with
    its `batch`).
    """
    if batch_size < 1 or queue_batches < 1:
        raise ValueError(f"batch_size and queue_batches must be >= 1; got {batch_size}, {queue_batches}")
    stop = threading.Event()
    to_device: queue.Queue = queue.Queue(maxsize=queue_batches)
    to_sink: queue.Queue = queue.Queue(maxsize=queue_batches)
    started = time.perf_counter()

    def read() -> None:
        frames = iter(source)
        iterator = batches(frames, batch_size, allocate=translator.host_array)
        try:
            while True:
                t0 = time.perf_counter()
                batch = next(iterator, None)
                reader.busy_s += time.perf_counter() - t0
                if batch is None:
                    _put(to_device, _End(), stop)
                    return
                if not _put(to_device, batch, stop):
                    return
        finally:
            iterator.close()
            close = getattr(frames, "close", None)
            if close is not None:
                close()

    def write() -> None:
        while True:
            item = _get(to_sink, stop)
            if item is None or isinstance(item, _End):
                return
            batch, pixels = item  # type: ignore[misc]
            t0 = time.perf_counter()
            sink(batch, pixels)
            writer.busy_s += time.perf_counter() - t0
            if on_progress is not None:
                on_progress(len(batch))

    reader = _Stage("vidtrans-source", read, stop)
    writer = _Stage("vidtrans-sink", write, stop)
    reader.start()
    writer.start()
    try:
        frames, count, inference_s = _translate_all(translator, to_device, to_sink, stop, on_failed_batch)
        if not stop.is_set():
            writer.join()
    finally:
        stop.set()
        reader.join(timeout=30)
        writer.join(timeout=30)
    for stage in (reader, writer):
        if stage.error is not None:
            raise stage.error
    return PipelineResult(frames=frames, batches=count, wall_s=time.perf_counter() - started,
                          decode_s=reader.busy_s, inference_s=inference_s, encode_s=writer.busy_s)


def _translate_all(translator: Translator, to_device: queue.Queue, to_sink: queue.Queue,
                   stop: threading.Event, on_failed_batch: FailedBatch | None) -> tuple[int, int, float]:
    """The calling thread's part: submit batches, two in flight, and pass results on in order.

    Returns (frames, batches, busy seconds); returns early, with what was passed on, when stopping.
    """
    frames = count = 0
    busy = 0.0
    in_flight: list[tuple[FrameBatch, PendingBatch]] = []
    done = False
    while not done:
        item = _get(to_device, stop)
        if item is None:
            return frames, count, busy
        t0 = time.perf_counter()
        if isinstance(item, FrameBatch):
            in_flight.append((item, translator.submit(item.pixels)))
        else:
            done = True
        while len(in_flight) > (0 if done else 1):
            batch, pending = in_flight.pop(0)
            try:
                result = pending.result()
            except NonFiniteOutput as error:
                if on_failed_batch is None:
                    raise NonFiniteOutput(str(error), batch) from None
                on_failed_batch(batch, error)
                continue
            busy += time.perf_counter() - t0
            if not _put(to_sink, (batch, result), stop):
                return frames, count, busy
            t0 = time.perf_counter()
            frames += len(batch)
            count += 1
        busy += time.perf_counter() - t0
    _put(to_sink, _End(), stop)
    return frames, count, busy
