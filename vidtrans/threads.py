"""How the model uses the CPU cores: how many, and how they share a batch.

Measured on the 2-core development VM (docs/performance.md, "CPU threads"): ONNX Runtime's thread pool spins
while it waits, and its threads wait on each other at every operator, so when another process takes a core
they stall. Several single-threaded runs, each on its own part of the batch, with spinning off, lose the
least to a busy neighbour and are as fast as one wide run on a quiet machine. So the ONNX Runtime backend
splits each CPU batch into `cpu_lanes()` parts run at once (`vidtrans.backends.onnxruntime_backend`); a
batch of one frame runs on one session with that many threads. PyTorch keeps its own thread pool (all cores:
fewer threads were slower in every case measured).
"""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """The cores this process may run on (its affinity mask, e.g. a container's or Slurm's share)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def cpu_lanes() -> int:
    """How many parts of a batch the model runs at once on the CPU: the usable cores, or `VIDTRANS_THREADS`."""
    override = os.environ.get("VIDTRANS_THREADS", "")
    return int(override) if override.isdigit() and int(override) > 0 else usable_cpus()
