"""How many CPU threads the model gets, so that it, the decode and encode threads and a busy neighbour do not
fight over the same cores.

OpenMP (torch) and ONNX Runtime thread pools spin and wait on each other at every operator: one of their
threads descheduled by another process stalls all of them, so on a loaded machine more threads run slower
(measured in docs/performance.md). vidtrans therefore gives the model the cores that are idle when it
starts, less one for decoding and encoding on machines with more than two, and never fewer than one.
`VIDTRANS_THREADS` (or OMP_NUM_THREADS for torch) overrides the choice.
"""

from __future__ import annotations

import os
import time

SAMPLE_S = 0.1


def usable_cpus() -> int:
    """The cores this process may run on (its affinity mask, e.g. a container's or Slurm's share)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of the whole machine from /proc/stat, or None where there is no /proc."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            values = [float(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)  # idle + iowait
    return sum(values) - idle, sum(values)


def busy_cpus(sample_s: float = SAMPLE_S) -> float:
    """How many cores other processes keep busy now: /proc/stat over `sample_s`, else the 1-minute load."""
    first = _cpu_times()
    if first is not None:
        time.sleep(sample_s)
        second = _cpu_times()
        if second is not None and second[1] > first[1]:
            share = (second[0] - first[0]) / (second[1] - first[1])
            return share * (os.cpu_count() or 1)
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def model_threads(*, cpus: int | None = None, busy: float | None = None) -> int:
    """Threads for the generator on the CPU (see the module docstring); `VIDTRANS_THREADS` wins."""
    override = os.environ.get("VIDTRANS_THREADS", "")
    if override.isdigit() and int(override) > 0:
        return int(override)
    cpus = usable_cpus() if cpus is None else cpus
    busy = busy_cpus() if busy is None else busy
    idle = max(1, min(cpus, int(cpus - busy + 0.5)))
    return idle - 1 if idle > 2 else idle
