"""The synth manifest: one JSON line per item, in per-shard part files while running, merged at the end.

Each run appends to its own part, `OUTPUT/manifest.parts/part-<I>-of-<N>.jsonl`, one line per finished item,
flushed as it is written and fsynced at least once a second. An item is written to its final name (temporary
file and rename) before its line, so an item counts as done only if its latest line says "ok" and its files
exist; a run killed between the two re-does that item. Reading tolerates a torn last line, and a part is
repaired (the torn tail cut off) before anything is appended to it. The merged `OUTPUT/manifest.jsonl` has
exactly one line per planned item, in plan order, then one summary line; it is written atomically.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from vidtrans.errors import OutputError
from vidtrans.fsutil import atomic_write_text

PARTS_DIR = "manifest.parts"
MANIFEST_FILE = "manifest.jsonl"
Record = dict[str, Any]


def part_path(output: Path, shard_name: str) -> Path:
    """Where the shard called `shard_name` (`part-I-of-N`) writes its manifest lines."""
    return output / PARTS_DIR / f"{shard_name}.jsonl"


class PartWriter:
    """Appends item lines to one manifest part; thread-safe; holds an exclusive lock on the part.

    A second process writing the same part (the same shard run twice at once) is refused.
    """

    def __init__(self, path: Path, *, sync_interval: float = 1.0) -> None:
        self.path = path
        self.sync_interval = sync_interval
        self._lock = threading.Lock()
        self._unsynced = False
        self._last_sync = time.monotonic()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise OutputError(f"{path}: another vidtrans synth is writing this shard's manifest part") from None
        self._cut_torn_tail()

    def _cut_torn_tail(self) -> None:
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        keep = size
        while keep > 0:
            start = max(0, keep - 65536)
            chunk = os.pread(self._fd, keep - start, start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            keep = start
        if keep == size:
            return
        os.ftruncate(self._fd, keep)
        os.fsync(self._fd)

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one line and flush it to the OS; fsync if a second has passed.

        A line that cannot be written whole (a full disk) is cut off again, so the part never holds a torn
        line that the next one would be glued to; that is an OutputError.
        """
        data = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            start = os.fstat(self._fd).st_size
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(self._fd, view):]
            except OSError as error:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, start)
                raise OutputError(f"{self.path}: cannot write ({error.strerror or error})") from None
            self._unsynced = True
            if time.monotonic() - self._last_sync >= self.sync_interval:
                self._sync_locked()

    def sync(self) -> None:
        """fsync what was written (called after every batch and at the end)."""
        with self._lock:
            self._sync_locked()

    def _sync_locked(self) -> None:
        if self._unsynced:
            os.fsync(self._fd)
            self._unsynced = False
        self._last_sync = time.monotonic()

    def close(self) -> None:
        if self._fd < 0:
            return
        self.sync()
        os.close(self._fd)
        self._fd = -1

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_part(path: Path) -> list[Record]:
    """The item records of one part, in order; a torn last line and lines that are not JSON are skipped."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    records: list[Record] = []
    for line in data.split(b"\n")[:-1]:
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(record, dict) and isinstance(record.get("key"), str):
            records.append(record)
    return records


def part_files(output: Path) -> list[Path]:
    """Every manifest part in OUTPUT, sorted by name."""
    folder = output / PARTS_DIR
    return sorted(folder.glob("part-*.jsonl")) if folder.is_dir() else []


def is_done(record: Mapping[str, Any], output: Path) -> bool:
    """Whether a record says "ok" and its translated image and label files exist."""
    if record.get("status") != "ok" or not record.get("output"):
        return False
    return all((output / path).is_file() for path in [record["output"], *record.get("labels", ())])


def latest_records(output: Path, parts: Sequence[Path] | None = None) -> dict[str, Record]:
    """One record per item key over all parts: the last "ok" one whose files exist, else the last one."""
    latest: dict[str, Record] = {}
    done: dict[str, Record] = {}
    for part in part_files(output) if parts is None else parts:
        for record in read_part(part):
            latest[record["key"]] = record
            if record.get("status") == "ok":
                done[record["key"]] = record
    for key, record in done.items():
        if latest[key] is not record and is_done(record, output):
            latest[key] = record
    return latest


def completed_keys(records: Mapping[str, Record], output: Path) -> set[str]:
    """The keys whose latest record is done (see `is_done`)."""
    return {key for key, record in records.items() if is_done(record, output)}


def write_manifest(path: Path, records: Iterable[Mapping[str, Any]], summary: Mapping[str, Any]) -> None:
    """Write the merged manifest atomically: the item lines, then `{"type": "summary", ...}`."""
    lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in records]
    lines.append(json.dumps({"type": "summary", **summary}, ensure_ascii=False, separators=(",", ":")))
    atomic_write_text(path, "\n".join(lines) + "\n")
