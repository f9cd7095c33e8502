"""The Ray side of `--engine ray`: importing Ray, starting or joining a cluster, planning the actors.

Without `--ray-address` (and without `RAY_ADDRESS` in the environment) Ray starts on this machine for the
job and stops after it: all its CPUs, no dashboard, quiet logs, its files under the system's temporary
folder. With an address (or `RAY_ADDRESS`), the job joins that running cluster as a driver and leaves it
running. A process that has already called `ray.init` (a notebook, a benchmark) keeps its connection.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import socket
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import ModuleType

from vidtrans import errors
from vidtrans.engines import RayOptions
from vidtrans.errors import InputError, MissingExtraError, UsageError, VidtransError
from vidtrans.runtime import RuntimeOptions
from vidtrans.threads import usable_cpus

INSTALL_HINT = "install the ray extra: pip install 'vidtrans[ray]'"
TEMP_DIR = os.path.join(tempfile.gettempdir(), "vidtrans-ray")
TASK_CPUS = 0.5
"""CPUs each decode or write task reserves: they wait on storage about as long as they compute."""


def import_ray() -> ModuleType:
    """`ray`, with Ray Data; MissingExtraError naming the extra when it is not installed."""
    try:
        import ray
        import ray.data  # noqa: F401 - Ray Data needs pandas and pyarrow, which the extra brings
    except ImportError as error:
        raise MissingExtraError(f"--engine ray: Ray Data is not installed ({error}); {INSTALL_HINT}") from None
    return ray


@dataclass(frozen=True)
class Cluster:
    """The Ray cluster a job runs on: where, what it has, and how long joining or starting it took."""

    address: str
    started: bool
    """Whether this job started it (it then stops with the job)."""
    startup_s: float
    cpus: float
    gpus: float
    nodes: int
    node_cpus: float
    """CPUs of the smallest node."""

    def describe(self) -> str:
        where = "a local Ray" if self.started else f"the Ray cluster at {self.address}"
        return f"{where} ({self.nodes} node(s), {self.cpus:g} CPUs, {self.gpus:g} GPUs)"


@contextlib.contextmanager
def connect(options: RayOptions) -> Iterator[Cluster]:
    """Join the cluster `options` (or `RAY_ADDRESS`) names, or start Ray here; see the module docstring."""
    started = time.perf_counter()
    ray = import_ray()
    address = options.address or os.environ.get("RAY_ADDRESS")
    own = not ray.is_initialized()
    if own:
        if address:
            check_address(address)
        try:
            if address:
                ray.init(address=address, logging_level=logging.ERROR)
            else:
                ray.init(address="local", num_cpus=usable_cpus(), include_dashboard=False,
                         logging_level=logging.ERROR, _temp_dir=TEMP_DIR)
        except (ConnectionError, ValueError, RuntimeError) as error:
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            raise InputError(f"cannot start or join {where}: {_first_line(error)}") from None
    try:
        resources = ray.cluster_resources()
        nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
        yield Cluster(address=address or ray.get_runtime_context().gcs_address, started=own and not address,
                      startup_s=time.perf_counter() - started, cpus=resources.get("CPU", 0.0),
                      gpus=resources.get("GPU", 0.0), nodes=len(nodes),
                      node_cpus=min((node.get("CPU", 0.0) for node in nodes), default=0.0))
    finally:
        if own:
            ray.shutdown()


def check_address(address: str, *, timeout: float = 10.0) -> None:
    """Refuse at once an address where nothing listens (Ray itself would keep retrying for many minutes).

    `auto` (the cluster this machine belongs to) is left to Ray, which says when there is none.
    """
    if address == "auto":
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--ray-address {address}: expected HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as error:
        raise InputError(f"cannot reach the Ray cluster at {address} ({error.strerror or error}); is Ray running "
                         "there (`ray start --head`), and is the port open?") from None


@dataclass(frozen=True)
class WorkerPlan:
    """The translating actors: how many, the GPUs and CPUs each reserves, and the runtime options they run with.

    An actor with GPUs reserves one CPU to feed them; without GPUs it runs the model on all its node's CPUs
    but one (Ray sets its OMP_NUM_THREADS to them), which is left to the decode and write tasks: on CPUs the
    model is the bottleneck by far.
    """

    workers: int
    gpus: float
    cpus: float
    runtime: RuntimeOptions

    def describe(self) -> str:
        each = f"{self.gpus:g} GPU(s)" if self.gpus else f"{self.cpus:g} CPU(s)"
        return f"{self.workers} worker(s) with {each} each"

    def actors(self, ray: ModuleType) -> dict[str, object]:
        """`map_batches` arguments for the translating actors: all `workers` started at once, the job going
        on with fewer while some cannot be placed or are restarting (Ray restarts dead actors and retries
        their batches: Ray Data's defaults, max_restarts=-1 and max_task_retries=-1)."""
        return {"compute": ray.data.ActorPoolStrategy(min_size=1, max_size=self.workers, initial_size=self.workers),
                "num_gpus": self.gpus, "num_cpus": self.cpus}


def plan_workers(cluster: Cluster, options: RayOptions, runtime: RuntimeOptions) -> WorkerPlan:
    """Resolve `--workers`, `--gpus-per-worker` and `--device` against the cluster's resources.

    On Ray each actor gets its GPUs from Ray, so `--device` may be auto, cuda (with GPUs) or cpu (without),
    never cuda:N.
    """
    gpus = options.gpus_per_worker
    if gpus is None:
        gpus = 1.0 if cluster.gpus >= 1 and runtime.device != "cpu" else 0.0
    device = runtime.device
    if device.startswith("cuda:"):
        raise UsageError(f"--device {device}: on Ray each worker gets its GPUs from Ray; use --device cuda "
                         "(or auto) with --gpus-per-worker")
    if gpus and device == "cpu":
        raise UsageError(f"--device cpu contradicts --gpus-per-worker {gpus:g}")
    if not gpus and device == "cuda":
        raise UsageError("--device cuda on Ray needs --gpus-per-worker above 0")
    if gpus > cluster.gpus:
        raise UsageError(f"--gpus-per-worker {gpus:g}: {cluster.describe()} has not that many GPUs; add GPU "
                         "nodes, or pass --gpus-per-worker 0 to run the model on CPUs")
    workers = options.workers or (max(1, int(cluster.gpus // gpus)) if gpus else cluster.nodes)
    return WorkerPlan(workers=workers, gpus=gpus, cpus=1.0 if gpus else max(1.0, math.floor(cluster.node_cpus) - 1.0),
                      runtime=dataclasses.replace(runtime, device="cuda" if gpus else "cpu"))


@contextlib.contextmanager
def quiet_data(ray: ModuleType) -> Iterator[None]:
    """Ray Data without its progress bars and console messages (vidtrans shows its own); its log file stays."""
    context = ray.data.DataContext.get_current()
    saved = context.enable_progress_bars, context.print_on_execution_start
    context.enable_progress_bars = context.print_on_execution_start = False
    consoles = [h for h in logging.getLogger("ray.data").handlers
                if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)]
    levels = [handler.level for handler in consoles]
    for handler in consoles:
        handler.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        context.enable_progress_bars, context.print_on_execution_start = saved
        for handler, level in zip(consoles, levels):
            handler.setLevel(level)


def vidtrans_cause(error: BaseException) -> VidtransError | None:
    """The VidtransError a Ray task raised, found in the chain of errors Ray wraps it in (a plain task's)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, VidtransError):
            return current
        cause = getattr(current, "cause", None)
        todo += [cause if isinstance(cause, BaseException) else None, current.__cause__, current.__context__]
    return None


@contextlib.contextmanager
def worker_errors() -> Iterator[None]:
    """Raise a VidtransError from a Ray task as itself (one line for the CLI), not wrapped in Ray's errors."""
    try:
        yield
    except VidtransError:
        raise
    except Exception as error:
        cause = vidtrans_cause(error)
        if cause is None:
            raise
        raise cause from None


def fatal_row(error: VidtransError) -> str:
    """A VidtransError that must stop the job, as a value a Ray Data row can carry to the driver.

    Ray Data reports an exception raised in a map function without its cause, so errors the user must see
    (an output that cannot be written, a model that does not load on a worker) travel as data instead.
    """
    return json.dumps({"error": type(error).__name__, "message": str(error)})


def raise_fatal(rows: Iterable[str]) -> None:
    """Raise the first error `fatal_row` made among `rows` ('' for rows without one), as its own class."""
    for text in rows:
        if text:
            doc = json.loads(text)
            kind = getattr(errors, doc["error"], VidtransError)
            raise (kind if isinstance(kind, type) and issubclass(kind, VidtransError) else VidtransError)(doc["message"])


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
