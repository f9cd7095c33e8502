"""torch.distributed plumbing: one process per GPU (or CPU process with gloo), launched by `torchrun`.

`torchrun` sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; without them training runs in
one process. Rank r uses cuda:LOCAL_RANK; only rank 0 logs and writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import torch
import torch.distributed as dist

from vidtrans.devices import resolve_device
from vidtrans.errors import UsageError, VidtransError

T = TypeVar("T")


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_local_main(self) -> bool:
        return self.local_rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str) -> int:
    try:
        return int(os.environ[name])
    except (KeyError, ValueError):
        raise UsageError(f"a distributed run needs the environment variable {name} (launch with torchrun)") from None


def setup(device_spec: str) -> DistContext:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); choose this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world_size <= 1:
        return DistContext(device=resolve_device(device_spec))
    rank, local_rank = _env_int("RANK"), _env_int("LOCAL_RANK")
    spec = device_spec.strip().lower()
    if spec not in ("auto", "cpu", "cuda"):
        raise UsageError(f"--device {device_spec} cannot be combined with torchrun: each rank uses "
                         "cuda:LOCAL_RANK; pass --device cuda, cpu or auto")
    device = resolve_device(spec)
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise UsageError(f"rank {rank}: LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} "
                             "CUDA device(s) on this node")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world_size)
    return DistContext(device=device, rank=rank, world_size=world_size, local_rank=local_rank)


def barrier(ctx: DistContext) -> None:
    """Wait for every rank."""
    if ctx.distributed:
        if ctx.device.type == "cuda":
            dist.barrier(device_ids=[ctx.device.index])
        else:
            dist.barrier()


def gather(ctx: DistContext, value: Any) -> list[Any] | None:
    """Every rank's `value` on rank 0 (None elsewhere); rank 0's own value alone when not distributed."""
    if not ctx.distributed:
        return [value]
    gathered: list[Any] | None = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(value, gathered, dst=0)
    return gathered


def broadcast(ctx: DistContext, value: Any) -> Any:
    """Rank 0's `value` on every rank."""
    if not ctx.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shutdown(ctx: DistContext, *, synchronize: bool = True) -> None:
    """Leave the process group; after a clean run every rank first waits for the others.

    Without that barrier a rank that finishes first can tear gloo down while a peer still talks to it,
    which aborts the process at exit. After an error there is no barrier (a failed peer would never reach it).
    """
    if ctx.distributed and dist.is_initialized():
        if synchronize:
            barrier(ctx)
        dist.destroy_process_group()


def on_main(ctx: DistContext, action: Callable[[], None]) -> None:
    """Run `action` on rank 0 only; if it fails with a VidtransError, every rank raises it."""
    failure: VidtransError | None = None
    if ctx.is_main:
        try:
            action()
        except VidtransError as error:
            failure = error
    failure = broadcast(ctx, failure)
    if failure is not None:
        raise failure


def local_main_first(ctx: DistContext, action: Callable[[], T]) -> T:
    """Run `action` on each node's first rank, then on the others (which then find its results cached)."""
    if ctx.is_local_main:
        try:
            return action()
        finally:
            barrier(ctx)
    barrier(ctx)
    return action()
