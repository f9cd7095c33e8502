"""A busy neighbour for the CPU benchmarks: one process keeping one core at 100% while the block runs."""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections.abc import Iterator


def _spin() -> None:
    while True:
        pass


@contextlib.contextmanager
def one_busy_core(busy: bool = True) -> Iterator[None]:
    """Run the block beside a process spinning on one core (or alone, with `busy` False)."""
    if not busy:
        yield
        return
    spinner = multiprocessing.Process(target=_spin, daemon=True)
    spinner.start()
    time.sleep(1.0)  # let the scheduler see it
    try:
        yield
    finally:
        spinner.terminate()
        spinner.join()
