"""Messages to the user on stderr (stdout is kept for results such as --json), and a progress bar."""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO


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
    """A one-line progress bar: count/total, rate, ETA and free-form fields; redrawn at most 10 times a second.

    Drawn only on a terminal unless `force` is set; `enabled=False` turns it off (`--quiet`).
    """

    def __init__(self, total: int | None, *, unit: str = "frames", description: str = "",
                 enabled: bool = True, force: bool = False, stream: TextIO | None = None) -> None:
        self.total = total
        self.unit = unit
        self.description = description
        self.stream = stream or sys.stderr
        self.enabled = enabled and (force or self.stream.isatty())
        self.count = 0
        self.fields: dict[str, str] = {}
        self.started = time.perf_counter()
        self._last_draw = 0.0
        self._drawn = False

    def update(self, advance: int = 1, **fields: object) -> None:
        """Add `advance` to the count and set the extra fields shown after the rate."""
        self.count += advance
        self.fields.update({k: str(v) for k, v in fields.items()})
        now = time.perf_counter()
        if self.enabled and now - self._last_draw >= 0.1:
            self._last_draw = now
            self._draw(now)

    @property
    def rate(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.count / elapsed if elapsed > 0 else 0.0

    def line(self, now: float | None = None) -> str:
        """The text of the bar as it would be drawn now."""
        elapsed = (now or time.perf_counter()) - self.started
        rate = self.count / elapsed if elapsed > 0 else 0.0
        parts = [self.description] if self.description else []
        if self.total:
            done = min(self.count / self.total, 1.0)
            filled = int(done * 24)
            eta = (self.total - self.count) / rate if rate > 0 else float("inf")
            parts.append(f"[{'#' * filled}{'.' * (24 - filled)}] {self.count}/{self.total} {self.unit}")
            parts.append(f"{rate:.1f} {self.unit}/s  ETA {format_duration(eta)}")
        else:
            parts.append(f"{self.count} {self.unit}  {rate:.1f} {self.unit}/s  {format_duration(elapsed)}")
        parts += [f"{k} {v}" for k, v in self.fields.items()]
        return "  ".join(parts)

    def _draw(self, now: float) -> None:
        self.stream.write("\r" + self.line(now)[:200] + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Finish the line so later messages start on their own."""
        if self.enabled and self._drawn:
            self._draw(time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
