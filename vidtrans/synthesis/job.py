"""A synth job's identity, kept in `OUTPUT/synth.json`, so that reruns resume the same job and nothing else.

The identity holds what decides which items there are and what their outputs look like: the input, the
layout, the model and its weights' sha256, the output format and quality, resizing, frame sampling, backend
and precision. A rerun into the same OUTPUT with a different identity is refused (a new OUTPUT, or
`--overwrite` to start again), so one folder never mixes results of two settings.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vidtrans.errors import OutputError, UsageError
from vidtrans.fsutil import temporary_sibling
from vidtrans.synthesis.manifest import MANIFEST_FILE, PARTS_DIR, part_files, read_part

JOB_FILE = "synth.json"
JOB_VERSION = 1
Identity = dict[str, Any]


def check_paths(input_path: Path, output: Path) -> None:
    """Refuse an OUTPUT that is a file, equals INPUT, or is inside it (or the other way round)."""
    if output.exists() and not output.is_dir():
        raise OutputError(f"{output}: exists and is not a folder")
    source, target = input_path.resolve(), output.resolve()
    if source == target:
        raise UsageError(f"{output}: OUTPUT must not be INPUT")
    if source in target.parents:
        raise UsageError(f"{output}: OUTPUT must not be inside INPUT ({input_path})")
    if target in source.parents:
        raise UsageError(f"{output}: OUTPUT must not contain INPUT ({input_path})")


def read_job(output: Path) -> Identity:
    """The identity recorded in `OUTPUT/synth.json`."""
    path = output / JOB_FILE
    if not path.is_file():
        raise OutputError(f"{output}: not a synth output folder (no {JOB_FILE})")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise OutputError(f"{path}: unreadable ({error})") from None
    if not isinstance(doc, dict) or doc.get("version") != JOB_VERSION:
        raise OutputError(f"{path}: not a synth job description this vidtrans reads (version {JOB_VERSION})")
    return doc


def _differences(recorded: Mapping[str, Any], asked: Mapping[str, Any]) -> list[str]:
    keys = sorted(set(recorded) | set(asked))
    return [f"{k}: {recorded.get(k)!r} there, {asked.get(k)!r} now" for k in keys if recorded.get(k) != asked.get(k)]


def _is_empty(output: Path) -> bool:
    """Empty, or holding only our own half-written job file (another shard is creating it)."""
    return all(p.name.startswith(f".{Path(JOB_FILE).stem}.partial-") for p in output.iterdir())


def claim_output(output: Path, identity: Mapping[str, Any], *, overwrite: bool = False,
                 sharded: bool = False) -> bool:
    """Make OUTPUT this job's: create it with `synth.json`, or check that it already is this job's.

    Returns True when OUTPUT already held this job (a resume). With `overwrite`, a folder holding another
    job (or other files) is taken over: the previous job's recorded outputs and manifests are deleted first.
    Several shards may call this at once; the first one writes `synth.json`.
    """
    asked = {"version": JOB_VERSION, **identity}
    job = output / JOB_FILE
    if job.exists():
        recorded = read_job(output)
        if recorded == asked:
            return True
        if not overwrite:
            changed = "; ".join(_differences(recorded, asked))
            raise OutputError(f"{output}: holds a synth job with other settings ({changed}); use a new OUTPUT, "
                              "or pass --overwrite to start it again")
        if sharded:
            raise UsageError(f"{output}: --overwrite cannot restart a job from several shards at once; "
                             "delete OUTPUT, or run once without --shard")
        reset_output(output)
    elif output.is_dir() and not overwrite and not _is_empty(output) and not job.exists():
        raise OutputError(f"{output}: exists and is not a synth output folder (no {JOB_FILE}); "
                          "use a new OUTPUT, or pass --overwrite to write into it")
    output.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(output / JOB_FILE)
    temporary.write_text(json.dumps(asked, indent=2) + "\n", encoding="utf-8")
    try:
        os.link(temporary, job)
    except FileExistsError:
        if read_job(output) != asked:
            raise OutputError(f"{output}: another synth job with other settings started writing here") from None
        return True
    finally:
        temporary.unlink(missing_ok=True)
    return False


def reset_output(output: Path) -> None:
    """Delete a previous job's recorded outputs and label copies, its manifests and `synth.json`."""
    root = output.resolve()
    for part in part_files(output):
        for record in read_part(part):
            for relative in [record.get("output"), *record.get("labels", ())]:
                if not isinstance(relative, str):
                    continue
                path = (output / relative).resolve()
                if root in path.parents:
                    path.unlink(missing_ok=True)
    shutil.rmtree(output / PARTS_DIR, ignore_errors=True)
    (output / MANIFEST_FILE).unlink(missing_ok=True)
    (output / JOB_FILE).unlink(missing_ok=True)
