"""Splitting a synth job into shards: `--shard I/N`, or the launcher's environment (torchrun, Slurm arrays).

Under torchrun (RANK / WORLD_SIZE) each process is one shard; in a Slurm array job
(SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT, with SLURM_ARRAY_TASK_MIN and _STEP for arrays such as
`--array=1-8` or `0-30:2`) each array task is one. Both at once (torchrun inside each array task) nest:
rank R of W in array task T of N is shard T*W + R of N*W. An explicit `--shard` must agree with them.

An item belongs to shard `sha256(unit) mod N`, where the unit is the image's relative path or a run of 32
sampled frames of a video. The split depends only on the item's name, so it is the same on every machine
and every rerun, shards together cover every item exactly once, and adding files to INPUT does not move the
items already assigned.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vidtrans.errors import UsageError
from vidtrans.synthesis.layout import Item


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (0-based)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise UsageError(f"shard must be I/N with 0 <= I < N; got {self.index}/{self.count}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`"I/N"` -> Shard(I, N)."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match:
            raise UsageError(f"--shard must look like I/N (e.g. 0/4); got {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def name(self) -> str:
        """`part-I-of-N`, the stem of this shard's manifest part."""
        return f"part-{self.index}-of-{self.count}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, item: Item) -> bool:
        """Whether `item` is this shard's to translate."""
        return self.count == 1 or shard_of(item, self.count) == self.index


def shard_of(item: Item, count: int) -> int:
    """The shard (of `count`) that translates `item`."""
    digest = hashlib.sha256(item.shard_unit.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def torchrun_shard(env: Mapping[str, str]) -> Shard | None:
    """The shard torchrun (or any launcher setting RANK and WORLD_SIZE) gives this process, if any."""
    rank, world = env.get("RANK"), env.get("WORLD_SIZE")
    if rank is None or world is None:
        return None
    try:
        return Shard(int(rank), int(world))
    except ValueError:
        raise UsageError(f"RANK={rank!r} and WORLD_SIZE={world!r} in the environment are not a valid shard") from None


def slurm_array_shard(env: Mapping[str, str]) -> Shard | None:
    """The shard of this Slurm array task: its place among the array's tasks (ids MIN, MIN+STEP, ...)."""
    task, count = env.get("SLURM_ARRAY_TASK_ID"), env.get("SLURM_ARRAY_TASK_COUNT")
    if task is None or count is None:
        return None
    first, step = env.get("SLURM_ARRAY_TASK_MIN", "0"), env.get("SLURM_ARRAY_TASK_STEP", "1")
    described = (f"SLURM_ARRAY_TASK_ID={task}, SLURM_ARRAY_TASK_COUNT={count}, SLURM_ARRAY_TASK_MIN={first}, "
                 f"SLURM_ARRAY_TASK_STEP={step}")
    try:
        offset, stride = int(task) - int(first), int(step)
        if stride < 1 or offset % stride:
            raise ValueError
        return Shard(offset // stride, int(count))
    except (ValueError, UsageError):
        raise UsageError(f"{described}: not one of N evenly spaced array tasks; submit the job as "
                         "--array=0-(N-1) (or give --shard I/N)") from None


def shard_from_env(env: Mapping[str, str] | None = None) -> Shard | None:
    """The shard the launcher gives this process: torchrun's, a Slurm array task's, or both nested."""
    env = os.environ if env is None else env
    rank, task = torchrun_shard(env), slurm_array_shard(env)
    if rank is not None and task is not None:
        return Shard(task.index * rank.count + rank.index, task.count * rank.count)
    return rank or task


def resolve_shard(option: Shard | str | None, env: Mapping[str, str] | None = None) -> Shard:
    """`--shard I/N` if given, else the launcher's shard (see the module docstring), else the whole job.

    A `--shard` that differs from the launcher's is refused: two processes would otherwise translate the
    same items while others stay missing.
    """
    from_env = shard_from_env(env)
    if option is None:
        return from_env or Shard()
    shard = option if isinstance(option, Shard) else Shard.parse(option)
    if from_env is not None and from_env != shard:
        raise UsageError(f"--shard {shard} contradicts shard {from_env} from the launcher's environment "
                         "(RANK/WORLD_SIZE, SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT); give one or the other")
    return shard


def local_device(device: str, env: Mapping[str, str] | None = None) -> str:
    """Under a launcher on a multi-GPU node, `--device auto` or `cuda` means this process' GPU (LOCAL_RANK)."""
    env = os.environ if env is None else env
    local_rank = env.get("LOCAL_RANK")
    if local_rank is None or not local_rank.isdigit() or device not in ("auto", "cuda"):
        return device
    import torch

    if not torch.cuda.is_available():
        return device
    return f"cuda:{int(local_rank) % torch.cuda.device_count()}"


def select(items: Iterable[Item], shard: Shard) -> list[Item]:
    """The items of `shard`, in their planned order."""
    return [item for item in items if shard.owns(item)]
