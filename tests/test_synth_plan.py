"""Synth bookkeeping without a model: sharding, manifest parts (torn lines, dedupe, locking), job identity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vidtrans.errors import OutputError, UsageError
from vidtrans.synthesis.job import JOB_FILE, check_paths, claim_output
from vidtrans.synthesis.layout import Item, Sampling
from vidtrans.synthesis.manifest import PartWriter, completed_keys, latest_records, read_part
from vidtrans.synthesis.plan import Shard, local_device, resolve_shard, select


def _items(n: int) -> list[Item]:
    images = [Item(key=f"images/{i:05d}.png", source=f"images/{i:05d}.png", output=f"images/{i:05d}.png")
              for i in range(n)]
    frames = [Item(key=f"v.mp4#{i:06d}", source="v.mp4", output=f"v/{i:06d}.png", frame=i) for i in range(n)]
    return images + frames


def test_shards_cover_every_item_once_and_keep_video_runs_together() -> None:
    items = _items(200)
    parts = [select(items, Shard(i, 3)) for i in range(3)]
    keys = [item.key for part in parts for item in part]
    assert sorted(keys) == sorted(item.key for item in items)
    assert all(len(part) > 40 for part in parts)
    assert select(items, Shard(0, 1)) == items
    owner: dict[int, int] = {}
    for index, part in enumerate(parts):  # frames 0-31, 32-63, ... of a video each go to one shard
        for item in part:
            if item.frame is not None:
                assert owner.setdefault(item.frame // 32, index) == index
    assert len(set(owner.values())) > 1


def test_shard_parsing_and_torchrun_environment() -> None:
    assert Shard.parse("1/4") == Shard(1, 4) and Shard(1, 4).name == "part-1-of-4"
    for bad in ("4/4", "1", "-1/2", "a/b"):
        with pytest.raises(UsageError):
            Shard.parse(bad)
    assert resolve_shard(None, {}) == Shard(0, 1)
    assert resolve_shard(None, {"RANK": "2", "WORLD_SIZE": "3"}) == Shard(2, 3)
    assert resolve_shard("2/3", {"RANK": "2", "WORLD_SIZE": "3"}) == Shard(2, 3)
    with pytest.raises(UsageError, match="contradicts"):
        resolve_shard("0/3", {"RANK": "2", "WORLD_SIZE": "3"})
    assert local_device("cpu", {"LOCAL_RANK": "1"}) == "cpu" and local_device("auto", {}) == "auto"
    on_gpu = f"cuda:{1 % torch.cuda.device_count()}" if torch.cuda.is_available() else "auto"
    assert local_device("auto", {"LOCAL_RANK": "1"}) == on_gpu  # each torchrun process takes its own GPU


def test_slurm_array_environment_gives_the_shard_and_nests_with_torchrun() -> None:
    def slurm(task: int, count: int, **more: str) -> dict[str, str]:
        return {"SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_COUNT": str(count), **more}

    assert resolve_shard(None, slurm(3, 4)) == Shard(3, 4)
    assert resolve_shard("3/4", slurm(3, 4)) == Shard(3, 4)
    assert resolve_shard(None, slurm(8, 8, SLURM_ARRAY_TASK_MIN="1")) == Shard(7, 8)  # --array=1-8
    assert resolve_shard(None, slurm(20, 4, SLURM_ARRAY_TASK_MIN="5", SLURM_ARRAY_TASK_STEP="5")) == Shard(3, 4)
    # torchrun (2 ranks) inside each of 3 array tasks: 6 shards, each process its own
    shards = {resolve_shard(None, {**slurm(task, 3), "RANK": str(rank), "WORLD_SIZE": "2"})
              for task in range(3) for rank in range(2)}
    assert shards == {Shard(i, 6) for i in range(6)}
    with pytest.raises(UsageError, match=r"--shard 0/4 contradicts shard 3/4 from the launcher"):
        resolve_shard("0/4", slurm(3, 4))
    for bad in (slurm(4, 4), slurm(3, 4, SLURM_ARRAY_TASK_STEP="2"), slurm(1, 4, SLURM_ARRAY_TASK_MIN="2"),
                {"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "4"}):
        with pytest.raises(UsageError, match="SLURM_ARRAY_TASK_ID=.*--array=0-"):
            resolve_shard(None, bad)
    assert resolve_shard(None, {"SLURM_ARRAY_TASK_ID": "3"}) == Shard()  # not an array job without the count


def test_fps_and_every_sampling() -> None:
    assert Sampling(every=10).frame_indices(25, 30.0) == [0, 10, 20]
    assert Sampling(fps=10).frame_indices(30, 30.0) == list(range(0, 30, 3))
    assert Sampling(fps=12).frame_indices(10, 25.0) == [0, 2, 4, 6, 8]
    assert Sampling(fps=60).frame_indices(5, 30.0) == [0, 1, 2, 3, 4]
    with pytest.raises(UsageError):
        Sampling(every=2, fps=3.0)


def test_part_tolerates_torn_line_dedupes_and_locks(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "a").mkdir(parents=True)
    (out / "a" / "x.png").write_bytes(b"x")
    part = out / "manifest.parts" / "part-0-of-1.jsonl"
    with PartWriter(part) as writer:
        writer.write({"key": "a/x.png", "status": "failed", "output": "a/x.png", "error": "boom"})
        writer.write({"key": "a/x.png", "status": "ok", "output": "a/x.png", "labels": []})
        writer.write({"key": "a/y.png", "status": "ok", "output": "a/y.png", "labels": []})  # file missing
        with pytest.raises(OutputError, match="another vidtrans synth"):
            PartWriter(part)
    with open(part, "ab") as handle:  # killed in the middle of a line
        handle.write(b'{"key": "a/z.png", "sta')
    assert [r["key"] for r in read_part(part)] == ["a/x.png", "a/x.png", "a/y.png"]
    with PartWriter(part) as writer:  # the torn tail is cut before appending
        writer.write({"key": "a/z.png", "status": "failed", "output": None, "error": "unreadable"})
    assert part.read_bytes().count(b"a/z.png") == 1
    records = latest_records(out)
    assert records["a/x.png"]["status"] == "ok" and records["a/z.png"]["status"] == "failed"
    assert completed_keys(records, out) == {"a/x.png"}


def test_claim_output_resumes_refuses_other_settings_and_foreign_folders(tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    identity = {"input": str(data), "format": "png", "model": "m"}
    assert claim_output(out, identity) is False
    assert json.loads((out / JOB_FILE).read_text())["format"] == "png"
    assert claim_output(out, identity) is True
    with pytest.raises(OutputError, match=r"format: 'png' there, 'jpg' now.*--overwrite"):
        claim_output(out, {**identity, "format": "jpg"})
    with pytest.raises(UsageError):
        claim_output(out, {**identity, "format": "jpg"}, overwrite=True, sharded=True)
    (out / "manifest.parts").mkdir()
    (out / "x.png").write_bytes(b"old")
    (out / "manifest.parts" / "part-0-of-1.jsonl").write_text(json.dumps(
        {"key": "x.png", "status": "ok", "output": "x.png", "labels": []}) + "\n")
    assert claim_output(out, {**identity, "format": "jpg"}, overwrite=True) is False
    assert not (out / "x.png").exists() and not (out / "manifest.parts").exists()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="not a synth output folder"):
        claim_output(foreign, identity)


def test_output_must_not_nest_with_input(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "file").write_text("x")
    for bad in (data, data / "out", tmp_path):
        with pytest.raises(UsageError):
            check_paths(data, bad)
    with pytest.raises(OutputError, match="not a folder"):
        check_paths(data, tmp_path / "file")
    check_paths(data, tmp_path / "out")
