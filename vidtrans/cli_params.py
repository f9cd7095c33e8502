"""Option groups of the command line, declared once and shared by every command that needs them.

A group is a list of `Param`s (a Typer option with its Python type) and a function that builds one value
from them. `add_params` puts a group's options into a command's signature and hands the command the built
value instead: a command written as `def convert(..., runtime: RuntimeOptions)` and decorated with
`@add_params(RUNTIME_PARAMS, build_runtime, into="runtime")` takes `--backend`, `--device`, ... and receives
one `RuntimeOptions`. Defaults come from the dataclasses, so the CLI and the Python API cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Optional

import typer

if TYPE_CHECKING:
    from typer.models import OptionInfo

from vidtrans.engines import RayOptions, ray_options
from vidtrans.runtime import OrtOptions, RuntimeOptions

RUNTIME_PANEL = "How the model runs"


@dataclass(frozen=True)
class Param:
    """One command-line option: the Python parameter name, its type and its Typer declaration."""

    name: str
    annotation: Any
    option: OptionInfo


def add_params(params: Sequence[Param], build: Callable[[dict[str, Any]], Any], *,
               into: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a Typer command: it takes `params` as options and receives `build(their values)` as `into`."""
    names = [param.name for param in params]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(command)
        if into not in signature.parameters:
            raise TypeError(f"{command.__name__} has no parameter {into!r} to receive the options")
        kept = [p for p in signature.parameters.values() if p.name != into]
        clash = sorted(set(names) & {p.name for p in kept})
        if clash:
            raise TypeError(f"{command.__name__} already has parameter(s) {', '.join(clash)}")
        added = [inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=p.option,
                                   annotation=p.annotation) for p in params]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in names}
            return command(**kwargs, **{into: build(values)})

        wrapper.__signature__ = signature.replace(parameters=kept + added)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {**{k: v for k, v in command.__annotations__.items() if k != into},
                                   **{p.name: p.annotation for p in params}}
        return wrapper

    return decorate


def _default(cls: type, name: str) -> Any:
    return next(f.default for f in fields(cls) if f.name == name)


_RUNTIME_OPTIONS: tuple[tuple[str, Any, type, str, str], ...] = (
    # option (--backend ...), its type, the dataclass and field it sets (and takes its default from), help
    ("backend", str, RuntimeOptions, "backend",
     "auto (the fastest installed: TensorRT, else torch on a GPU; ONNX Runtime, else torch on the CPU), torch, "
     "onnxruntime or tensorrt."),
    ("device", str, RuntimeOptions, "device",
     "auto (the GPU when there is one; LOCAL_RANK's under torchrun), cpu, cuda or cuda:N."),
    ("precision", str, RuntimeOptions, "precision", "auto (fp16 on CUDA, fp32 on the CPU), fp32 or fp16."),
    ("compile", bool, RuntimeOptions, "compile",
     "torch.compile the generator (torch backend; one static graph per resolution, whose first batch takes "
     "minutes)."),
    ("compile_mode", str, RuntimeOptions, "compile_mode",
     "torch.compile mode: default, reduce-overhead, max-autotune or max-autotune-no-cudagraphs."),
    ("inverse", bool, RuntimeOptions, "inverse", "Run the model's inverse generator (target -> source)."),
    ("ort_cudnn_search", str, OrtOptions, "cudnn_conv_algo_search",
     "onnxruntime on CUDA: cuDNN convolution search, EXHAUSTIVE, HEURISTIC or DEFAULT."),
    ("ort_tensorrt", bool, OrtOptions, "use_tensorrt",
     "onnxruntime: prefer its TensorRT execution provider (fp16 follows --precision)."),
    ("ort_trt_cache", Optional[Path], OrtOptions, "tensorrt_cache_dir",
     "onnxruntime's TensorRT provider: engine cache folder (default: the model's engines/onnxruntime)."),
)
RUNTIME_PARAMS: tuple[Param, ...] = tuple(
    Param(name, kind, typer.Option(_default(cls, field), f"--{name.replace('_', '-')}", help=text,
                                   rich_help_panel=RUNTIME_PANEL))
    for name, kind, cls, field, text in _RUNTIME_OPTIONS)


def build_runtime(values: dict[str, Any]) -> RuntimeOptions:
    """The `RuntimeOptions` of the RUNTIME_PARAMS values."""
    ort = OrtOptions(cudnn_conv_algo_search=str(values["ort_cudnn_search"]).upper(),  # type: ignore[arg-type]
                     use_tensorrt=values["ort_tensorrt"], tensorrt_cache_dir=values["ort_trt_cache"])
    return RuntimeOptions(backend=values["backend"], device=values["device"], precision=values["precision"],
                          compile=values["compile"], compile_mode=values["compile_mode"], ort=ort,
                          inverse=values["inverse"])


runtime_options = add_params(RUNTIME_PARAMS, build_runtime, into="runtime")
"""`@runtime_options` on a command: it takes every runtime option and receives `runtime: RuntimeOptions`."""


# --- the engine: local, or a Ray cluster --------------------------------------------------------------

ENGINE_PANEL = "Where it runs"
ENGINE_PARAMS: tuple[Param, ...] = (
    Param("engine", str, typer.Option(
        "local", "--engine", rich_help_panel=ENGINE_PANEL,
        help="local (this process) or ray (Ray Data on a Ray cluster; needs the ray extra, see docs/scale.md).")),
    Param("ray_address", Optional[str], typer.Option(
        None, "--ray-address", rich_help_panel=ENGINE_PANEL,
        help="--engine ray: the cluster to join (ray://HOST:10001, HOST:6379 or auto; default: RAY_ADDRESS, "
             "else Ray starts on this machine for the job).")),
    Param("gpus_per_worker", Optional[float], typer.Option(
        None, "--gpus-per-worker", rich_help_panel=ENGINE_PANEL,
        help="--engine ray: GPUs each translating worker reserves (default: 1 where the cluster has GPUs, "
             "else 0; 0.5 puts two on a GPU).")),
)


def build_engine(values: dict[str, Any]) -> RayOptions | None:
    """The `RayOptions` of `--engine ray` and its options; None for the local engine."""
    return ray_options(values["engine"], address=values["ray_address"], gpus_per_worker=values["gpus_per_worker"])


engine_options = add_params(ENGINE_PARAMS, build_engine, into="ray")
"""`@engine_options` on a command: it takes --engine, --ray-address and --gpus-per-worker and receives
`ray: RayOptions | None` (None: the local engine)."""


# --- training settings: one option per field of the training config ------------------------------------

_TRAIN_PANELS = {None: "Run", "data": "Data", "model": "Networks", "optim": "Losses and schedule"}


def _plain_type(hint: Any) -> Any:
    """The option type of a field's hint: `X | None` -> X, a Literal -> str."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        hint = args[0]
    return str if typing.get_origin(hint) is Literal else hint


def _training_param(name: str, section: str | None, spec: dataclasses.Field, hint: Any) -> Param:
    """A training setting as an option that is None unless given (so a --config file's value stands)."""
    kind = _plain_type(hint)
    flags = spec.metadata.get("flags") or (f"--{name.replace('_', '-')}",)
    if kind is bool:
        flags = tuple(f"{flag}/--no-{flag[2:]}" for flag in flags)
    text = spec.metadata["help"]
    if spec.default is not dataclasses.MISSING and spec.default is not None and spec.default != "":
        text += f" (default: {spec.default})"
    return Param(name, Optional[kind], typer.Option(None, *flags, help=text, rich_help_panel=_TRAIN_PANELS[section],
                                                    show_default=False))


def training_params(*, exclude: Sequence[str] = ()) -> tuple[Param, ...]:
    """One option per training setting (`vidtrans.training.config.setting_fields`), but those in `exclude`."""
    from vidtrans.training.config import setting_fields

    return tuple(_training_param(name, section, spec, hint)
                 for name, (section, spec, hint) in setting_fields().items() if name not in exclude)


def given_settings(values: dict[str, Any]) -> dict[str, Any]:
    """The training settings given on the command line (as config overrides)."""
    return {name: value for name, value in values.items() if value is not None}


training_settings = add_params(training_params(exclude=("domain_a", "domain_b")), given_settings, into="settings")
"""`@training_settings` on a command: it takes an option per training setting and receives `settings`, the
ones given, as a dict of overrides."""
