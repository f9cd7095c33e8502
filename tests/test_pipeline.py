"""Tests for the streaming pipeline: batching, order, payloads, bounded memory and stopping on errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from fractions import Fraction

import numpy as np
import pytest

from vidtrans.backends.factory import create_backend
from vidtrans.frames import Frame, FrameBatch
from vidtrans.modeldir import ModelDirectory
from vidtrans.pipeline import batches, run_pipeline
from vidtrans.runtime import RuntimeOptions
from vidtrans.translator import Translator

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def translator(tiny_model: ModelDirectory) -> Translator:
    return Translator(create_backend(tiny_model, RuntimeOptions(backend="torch", device="cpu")))


def _frame(index: int, size: tuple[int, int] = (12, 8), time_base: Fraction | None = None) -> Frame:
    pixels = np.random.default_rng(index).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Frame(pixels=pixels, index=index, pts=index if time_base else None, time_base=time_base,
                 payload=f"item-{index}")


def _no_pipeline_threads() -> bool:
    return not any(t.name.startswith("vidtrans-") and t.is_alive() for t in threading.enumerate())


def test_batches_group_consecutive_frames_of_one_size() -> None:
    sizes = [(12, 8)] * 5 + [(6, 4)] * 2 + [(12, 8)]
    frames = [_frame(i, size) for i, size in enumerate(sizes)]
    grouped = list(batches(frames, 2))
    assert [b.indices for b in grouped] == [(0, 1), (2, 3), (4,), (5, 6), (7,)]
    assert [b.size for b in grouped] == [(12, 8), (12, 8), (12, 8), (6, 4), (12, 8)]
    assert grouped[3].payloads == ("item-5", "item-6")
    timed = [_frame(0, time_base=Fraction(1, 30)), _frame(1, time_base=Fraction(1, 25))]
    assert [len(b) for b in batches(timed, 4)] == [1, 1]
    with pytest.raises(ValueError, match="batch_size"):
        list(batches(frames, 0))


def test_pipeline_translates_everything_in_order_with_payloads(translator: Translator) -> None:
    sizes = [(12, 8)] * 5 + [(20, 9)] * 3 + [(12, 8)] * 2
    frames = [_frame(i, size) for i, size in enumerate(sizes)]
    written: list[tuple[str, np.ndarray]] = []
    progress: list[int] = []

    def sink(batch: FrameBatch, translated: np.ndarray) -> None:
        assert translated.shape == batch.pixels.shape
        written.extend(zip(batch.payloads, translated))

    result = run_pipeline(iter(frames), translator, sink, batch_size=4, on_progress=progress.append)
    assert [name for name, _ in written] == [f"item-{i}" for i in range(10)]
    for frame, (_, pixels) in zip(frames, written):
        alone = translator.translate(frame.pixels[None])[0]
        assert np.abs(pixels.astype(int) - alone).max() <= 1  # batched convolutions may round differently
    assert (result.frames, result.batches, sum(progress)) == (10, 4, 10)
    assert result.wall_s > 0 and result.inference_s > 0 and result.fps > 0
    assert _no_pipeline_threads()


def test_pipeline_reads_ahead_only_a_few_batches(translator: Translator) -> None:
    produced = 0
    consumed = 0
    lead = []

    def source() -> Iterator[Frame]:
        nonlocal produced
        for i in range(40):
            produced += 1
            lead.append(produced - consumed)
            yield _frame(i)

    def sink(batch: FrameBatch, translated: np.ndarray) -> None:
        nonlocal consumed
        consumed += len(batch)

    run_pipeline(source(), translator, sink, batch_size=2, queue_batches=2)
    assert consumed == 40
    # at most: 2 queued + 2 in flight + 2 queued for the sink + 1 in the sink + 1 being batched, of 2 frames
    assert max(lead) <= 2 * 8 + 1


def test_a_source_error_stops_everything_and_reaches_the_caller(translator: Translator) -> None:
    def source() -> Iterator[Frame]:
        for i in range(50):
            if i == 7:
                raise OSError("disk fell off")
            yield _frame(i)

    written: list[int] = []
    with pytest.raises(OSError, match="disk fell off"):
        run_pipeline(source(), translator, lambda b, t: written.extend(b.indices), batch_size=2)
    assert len(written) <= 7 and _no_pipeline_threads()


@pytest.mark.parametrize("error", [RuntimeError("encoder broke"), KeyboardInterrupt()])
def test_a_sink_error_or_interrupt_stops_the_source(translator: Translator, error: BaseException) -> None:
    pulled = 0

    def source() -> Iterator[Frame]:
        nonlocal pulled
        for i in range(10_000):
            pulled += 1
            yield _frame(i)

    def sink(batch: FrameBatch, translated: np.ndarray) -> None:
        if batch.indices[0] >= 6:
            raise error

    with pytest.raises(type(error)):
        run_pipeline(source(), translator, sink, batch_size=2, queue_batches=2)
    assert pulled < 100 and _no_pipeline_threads()


def test_an_interrupt_in_the_calling_thread_stops_both_threads(tiny_model: ModelDirectory) -> None:
    class Interrupting(Translator):
        calls = 0

        def submit(self, pixels: np.ndarray):  # type: ignore[no-untyped-def]
            self.calls += 1
            if self.calls == 3:
                raise KeyboardInterrupt
            return super().submit(pixels)

    closed = threading.Event()

    def source() -> Iterator[Frame]:
        try:
            for i in range(10_000):
                yield _frame(i)
        finally:
            closed.set()

    with pytest.raises(KeyboardInterrupt):
        run_pipeline(source(), Interrupting(create_backend(tiny_model, RuntimeOptions(backend="torch", device="cpu"))), lambda b, t: None,
                     batch_size=2)
    assert closed.is_set() and _no_pipeline_threads()
