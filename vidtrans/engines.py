"""Where a batch job runs: the local engine (this process, the default) or a Ray cluster (`--engine ray`).

`SynthOptions.ray` and `ConvertOptions.ray` hold a `RayOptions` to run on Ray, or None to run locally; the
engine decides only where the work is scheduled, never what is written. This module imports no Ray (the
`ray` extra is optional; see `vidtrans.scale`).
"""

from __future__ import annotations

from dataclasses import dataclass

from vidtrans.errors import UsageError

ENGINES: tuple[str, ...] = ("local", "ray")


@dataclass(frozen=True)
class RayOptions:
    """How a job runs on Ray.

    `address` is the cluster to join (`ray://...`, `HOST:PORT` or `auto`); None joins `RAY_ADDRESS` when it
    is set, else starts Ray on this machine for the job. `workers` is the number of actors that hold a model
    (default: as many as the cluster's GPUs allow, or one per node without GPUs); `gpus_per_worker` the GPUs
    each reserves (default: 1 where the cluster has GPUs, else 0; fractions share a GPU).
    """

    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float | None = None

    def __post_init__(self) -> None:
        if self.address is not None and (not isinstance(self.address, str) or not self.address.strip()):
            raise UsageError(f"--ray-address must be an address such as ray://HOST:10001 or HOST:6379; "
                             f"got {self.address!r}")
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(self.workers, int)
                                         or self.workers < 1):
            raise UsageError(f"--workers must be a positive integer; got {self.workers!r}")
        if self.gpus_per_worker is not None and (isinstance(self.gpus_per_worker, bool)
                                                 or not isinstance(self.gpus_per_worker, (int, float))
                                                 or not self.gpus_per_worker >= 0):
            raise UsageError(f"--gpus-per-worker must be 0 or more; got {self.gpus_per_worker!r}")


def check_batch_job(batch_size: object, ray: object) -> None:
    """The checks `convert` and `synth` share: a positive `--batch-size`, and `ray` a RayOptions or None."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(f"--batch-size must be a positive integer; got {batch_size!r}")
    if ray is not None and not isinstance(ray, RayOptions):
        raise UsageError(f"ray must be a RayOptions or None; got {type(ray).__name__}")


def ray_options(engine: str, *, address: str | None = None,
                gpus_per_worker: float | None = None) -> RayOptions | None:
    """The `RayOptions` of `--engine ray` and its options, or None for `--engine local` (which takes none)."""
    if engine not in ENGINES:
        raise UsageError(f"--engine must be one of {', '.join(ENGINES)}; got {engine!r}")
    if engine == "ray":
        return RayOptions(address=address, gpus_per_worker=gpus_per_worker)
    given = [flag for flag, value in (("--ray-address", address), ("--gpus-per-worker", gpus_per_worker))
             if value is not None]
    if given:
        raise UsageError(f"{' and '.join(given)}: only with --engine ray")
    return None
