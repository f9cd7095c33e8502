"""Checking a synth job for completeness and writing its full manifest (`vidtrans synth --merge OUTPUT`).

The job is re-planned from `OUTPUT/synth.json` (same input, format and sampling), so missing items are found
even when a shard never ran. The full `OUTPUT/manifest.jsonl` is written (atomically) only when no item is
missing; failed items are in it, with their reasons, and make the exit code non-zero.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidtrans.synthesis.job import read_job
from vidtrans.synthesis.layout import Dataset, Item, Sampling, find_items
from vidtrans.synthesis.manifest import MANIFEST_FILE, Record, is_done, latest_records, part_files, write_manifest
from vidtrans.synthesis.plan import Shard, shard_of

_PART_NAME = re.compile(r"part-(\d+)-of-(\d+)\.jsonl")
_TEMPORARY = re.compile(r"^\..+\.partial-\d+-[0-9a-f]{8}(\.[^.]*)?$")


@dataclass(frozen=True)
class MergeReport:
    """The state of a whole job: counts, examples of what is missing or failed, and the manifest written."""

    output: Path
    items: int
    ok: int
    failed: int
    missing: int
    missing_examples: tuple[str, ...]
    missing_shards: tuple[str, ...]
    """The shards (`I/N`) that own missing items, when all parts were written with the same N."""
    failures: tuple[tuple[str, str], ...]
    """(key, reason) of the first failed items."""
    parts: tuple[str, ...]
    manifest: Path | None
    """The full manifest, written when nothing is missing."""

    @property
    def complete(self) -> bool:
        return self.missing == 0

    def line(self) -> str:
        """`1200 items: 1198 ok, 2 failed, 0 missing -> OUT/manifest.jsonl`."""
        text = f"{self.items} items: {self.ok} ok, {self.failed} failed, {self.missing} missing"
        if self.manifest is not None:
            return f"{text} -> {self.manifest}"
        shards = f" (shards {', '.join(self.missing_shards)} have not finished)" if self.missing_shards else ""
        return f"{text}{shards}; first missing: {', '.join(self.missing_examples)}"

    def problems(self) -> str:
        """A one-line reason for a non-zero exit, or '' when all is well."""
        if self.missing:
            return (f"{self.output}: incomplete: {self.missing} of {self.items} items missing"
                    + (f" (shards {', '.join(self.missing_shards)})" if self.missing_shards else "")
                    + "; run the missing shards (same command) and merge again")
        if self.failed:
            first = "; ".join(reason for _, reason in self.failures[:3])
            return (f"{self.output}: {self.failed} of {self.items} items failed (see {MANIFEST_FILE}; a rerun "
                    f"retries them): {first}")
        return ""

    def to_dict(self) -> dict[str, Any]:
        return {"output": str(self.output), "items": self.items, "ok": self.ok, "failed": self.failed,
                "missing": self.missing, "complete": self.complete,
                "missing_examples": list(self.missing_examples), "missing_shards": list(self.missing_shards),
                "failures": [{"key": k, "error": e} for k, e in self.failures], "parts": list(self.parts),
                "manifest": str(self.manifest) if self.manifest else None}


def merge_job(output: Path) -> MergeReport:
    """Re-plan the job recorded in `OUTPUT/synth.json`, check every item, and write the full manifest."""
    output = Path(output)
    job = read_job(output)
    dataset = find_items(Path(job["input"]), output_format=job["format"], sampling=Sampling(**job["sampling"]))
    return finalize(output, dataset, job)


def finalize(output: Path, dataset: Dataset, job: dict[str, Any]) -> MergeReport:
    """Check every planned item against the manifest parts; write `manifest.jsonl` when nothing is missing."""
    parts = part_files(output)
    records = latest_records(output, parts)
    lines: list[Record] = []
    missing: list[Item] = []
    failures: list[tuple[str, str]] = []
    for item in dataset.items:
        record = records.get(item.key)
        if record is None or (record.get("status") == "ok" and not is_done(record, output)):
            missing.append(item)
            continue
        if record.get("status") != "ok":
            failures.append((item.key, str(record.get("error"))))
        lines.append(record)
    counts = [tuple(int(g) for g in m.groups()) for p in parts if (m := _PART_NAME.fullmatch(p.name))]
    shard_counts = {n for _, n in counts}
    missing_shards: list[str] = []
    if len(shard_counts) == 1:
        (n,) = shard_counts
        missing_shards = sorted({str(Shard(shard_of(item, n), n)) for item in missing})
    manifest = None
    if not missing:
        manifest = output / MANIFEST_FILE
        failed = len(failures)
        write_manifest(manifest, lines, {
            "input": job["input"], "layout": dataset.kind, "model": job["model"],
            "weights_sha256": job["weights_sha256"], "backend": job["backend"], "precision": job["precision"],
            "format": job["format"], "items": len(dataset.items), "ok": len(lines) - failed, "failed": failed,
            "missing": 0, "complete": True, "parts": [p.name for p in parts],
            "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })
        remove_temporaries(output)
    return MergeReport(
        output=output, items=len(dataset.items), ok=len(lines) - len(failures), failed=len(failures),
        missing=len(missing), missing_examples=tuple(i.key for i in missing[:5]),
        missing_shards=tuple(missing_shards), failures=tuple(failures[:20]), parts=tuple(p.name for p in parts),
        manifest=manifest)


def remove_temporaries(output: Path) -> int:
    """Delete half-written files (`.NAME.partial-PID-TOKEN.EXT`) a killed run left in OUTPUT.

    Call only when no other process writes into OUTPUT (a single-shard run, or a complete job).
    """
    removed = 0
    for root, _, files in os.walk(output):
        for name in files:
            if _TEMPORARY.match(name):
                Path(root, name).unlink(missing_ok=True)
                removed += 1
    return removed
