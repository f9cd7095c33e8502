"""Messages to the user on stderr (stdout is kept for results such as --json), and job progress."""

from __future__ import annotations

import math
import sys
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress


def info(message: str) -> None:
    """A one-line message about what vidtrans is doing."""
    print(message, file=sys.stderr, flush=True)


def warn(message: str) -> None:
    """A one-line warning; the job goes on."""
    print(f"vidtrans: warning: {message}", file=sys.stderr, flush=True)


def format_duration(seconds: float) -> str:
    """`1:02:03`, `2:03` or `4.2s`."""
    if not math.isfinite(seconds):
        return "?"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Progress of a job: count/total, rate, time left and free-form fields, on stderr.

    On a terminal a rich progress bar (redrawn in place); elsewhere (a log file, Slurm, CI) a plain line every
    `interval` seconds, so logs show that a long job is alive without filling up. `enabled=False` (`--quiet`)
    turns both off; `force` draws the bar even when stderr is not a terminal.
    """

    def __init__(self, total: int | None, *, unit: str = "frames", description: str = "",
                 enabled: bool = True, force: bool = False, stream: TextIO | None = None,
                 interval: float = 30.0) -> None:
        self.total = total
        self.unit = unit
        self.description = description
        self.stream = stream or sys.stderr
        self.count = 0
        self.fields: dict[str, str] = {}
        self.started = time.perf_counter()
        self._interval = interval
        self._last_line = self.started
        self._bar: RichProgress | None = None
        self._plain = enabled and not (force or self.stream.isatty())
        if enabled and not self._plain:
            self._bar = _rich_bar(self.stream, unit)
            self._task = self._bar.add_task(description, total=total, rate="", fields="")
            self._bar.start()

    def update(self, advance: int = 1, **fields: object) -> None:
        """Add `advance` to the count and set the extra fields shown after the rate."""
        self.count += advance
        self.fields.update({k: str(v) for k, v in fields.items()})
        if self._bar is not None:
            self._bar.update(self._task, advance=advance, rate=f"{self.rate:.1f} {self.unit}/s",
                             fields="  ".join(f"{k} {v}" for k, v in self.fields.items()))
        elif self._plain:
            now = time.perf_counter()
            if now - self._last_line >= self._interval:
                self._last_line = now
                print(self.line(now), file=self.stream, flush=True)

    @property
    def drawing(self) -> bool:
        """Whether a bar is on the terminal (else progress goes to the log as plain lines, if at all)."""
        return self._bar is not None

    @property
    def rate(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.count / elapsed if elapsed > 0 else 0.0

    def line(self, now: float | None = None) -> str:
        """The plain progress line: `synth: 120/400 items (30%), 4.1 items/s, 1:08 left, failed 2`."""
        elapsed = (now or time.perf_counter()) - self.started
        rate = self.count / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.description}: {self.count}" if self.description else str(self.count)]
        if self.total:
            eta = (self.total - self.count) / rate if rate > 0 else float("inf")
            parts[0] += f"/{self.total} {self.unit} ({100 * min(self.count / self.total, 1.0):.0f}%)"
            parts += [f"{rate:.1f} {self.unit}/s", f"{format_duration(eta)} left"]
        else:
            parts[0] += f" {self.unit}"
            parts += [f"{rate:.1f} {self.unit}/s", f"{format_duration(elapsed)} elapsed"]
        return ", ".join(parts + [f"{k} {v}" for k, v in self.fields.items()])

    def close(self) -> None:
        """Stop drawing, leaving the finished bar on its own line."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rich_bar(stream: TextIO, unit: str) -> RichProgress:
    """A rich progress bar on `stream`: description, bar, count, rate, time left, fields."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeRemainingColumn

    return Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
               TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), TextColumn("{task.fields[fields]}"),
               console=Console(file=stream))
