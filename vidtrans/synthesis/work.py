"""What a synth engine is given and what it returns: the remaining items of one run, and counts.

An engine (the local threads in `vidtrans.synthesis.local`, or Ray Data in `vidtrans.scale.synth`) reads
each item with the `ItemReader`, translates it, writes it with the `ItemWriter` (which makes the item's
manifest record), and hands the record to `Work.record`, the one writer of this run's manifest part.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from vidtrans.backends.selection import BackendChoice
from vidtrans.console import Progress
from vidtrans.synthesis.items import ItemReader, ItemWriter
from vidtrans.synthesis.layout import Item
from vidtrans.synthesis.manifest import PartWriter, Record


@dataclass
class Counts:
    """How many items a run translated and failed, and where its time went (busy seconds per stage)."""

    ok: int = 0
    failed: int = 0
    wall_s: float = 0.0
    decode_s: float = 0.0
    inference_s: float = 0.0
    encode_s: float = 0.0


class Work:
    """The items still to translate in one run, how to read and write them, and the run's manifest part.

    `record` is thread-safe; it appends the record to the part and advances the counts and progress bar.
    """

    def __init__(self, todo: list[Item], reader: ItemReader, writer: ItemWriter, part: PartWriter, *,
                 batch_size: int, progress: bool) -> None:
        self.todo = todo
        self.reader = reader
        self.writer = writer
        self.part = part
        self.batch_size = batch_size
        self.show_progress = progress
        self.counts = Counts()
        self._lock = threading.Lock()
        self._progress: Progress | None = None

    def record(self, record: Record) -> None:
        """Append an item's manifest line and count it ("ok" or "failed")."""
        self.part.write(record)
        with self._lock:
            if record["status"] == "ok":
                self.counts.ok += 1
            else:
                self.counts.failed += 1
            if self._progress is not None:
                self._progress.update(1, failed=self.counts.failed)

    def fail(self, item: Item, error: str) -> None:
        """Record `item` as failed with `error`."""
        self.record(self.writer.record(item, error=error))

    @contextlib.contextmanager
    def progress(self) -> Iterator[None]:
        """Show the progress bar (unless quiet) while the engine runs; the part is fsynced at the end."""
        with Progress(len(self.todo), unit="items", description="synth", enabled=self.show_progress) as bar:
            self._progress = bar
            try:
                yield
            finally:
                self._progress = None
                self.part.sync()


class Engine(Protocol):
    """Runs a synth job's remaining items: the local engine (threads) or Ray (`--engine ray`)."""

    name: str
    workers: int
    startup_s: float
    """Seconds spent starting or joining the engine (Ray's start-up; 0 for the local engine)."""

    def __enter__(self) -> Engine: ...

    def __exit__(self, *exc: object) -> None: ...

    def choose_backend(self) -> BackendChoice:
        """The backend, device and precision the model runs with (as resolved where it runs)."""
        ...

    def describe(self, choice: BackendChoice) -> str:
        """Where and how the model runs, for the start-up line."""
        ...

    def run(self, work: Work, choice: BackendChoice) -> Counts:
        """Translate `work.todo`, recording every item exactly once; returns the counts and stage times."""
        ...
