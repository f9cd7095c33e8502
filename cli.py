"""The `vidtrans` command line: one thin function per command over the library.

Each command parses its options into the library's typed arguments, makes one library call and maps the
result to an exit code. Errors the user can fix (`VidtransError`) become a one-line message; `--debug`
shows the traceback instead.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

import vidtrans
from vidtrans.cli_params import engine_options, runtime_options, training_settings
from vidtrans.engines import RayOptions
from vidtrans.errors import VidtransError
from vidtrans.runtime import RuntimeOptions

_debug = False


class DefaultCommandGroup(TyperGroup):
    """A group that runs its `run` command when the first argument is not a subcommand.

    So `vidtrans train A B --name N` and `vidtrans train export-model runs/N` both work.
    """

    default_command = "run"

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args.insert(0, self.default_command)
        return super().parse_args(ctx, args)


app = typer.Typer(
    name="vidtrans",
    help="Translate game and simulator footage into real-looking footage (CycleGAN / pix2pix).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
_TRANSLATE, _TRAIN, _MEASURE, _MODELS = "Translate", "Train and deploy", "Measure", "Models"
models_app = typer.Typer(help="List, inspect, import and remove models.", no_args_is_help=True)
app.add_typer(models_app, name="models", rich_help_panel=_MODELS)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vidtrans {vidtrans.__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """vidtrans: unpaired and paired image-to-image translation for driving footage."""
    global _debug
    _debug = debug


# --- models ---------------------------------------------------------------------------------------------


@models_app.command("list")
def models_list(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the registered models: yours ($VIDTRANS_HOME/models) and the bundled ones."""
    from vidtrans.registry import list_models, user_models_dir

    entries = list_models()
    if as_json:
        typer.echo(json.dumps([{
            "name": e.name, "source": e.source, "path": str(e.path), "error": e.error,
            "generator": e.model.info.generator.type if e.model else None,
            "direction": [e.model.info.source_domain, e.model.info.target_domain] if e.model else None,
        } for e in entries], indent=2))
        return
    if not entries:
        typer.echo(f"no models (user models live in {user_models_dir()})")
        return
    for e in entries:
        if e.model is None:
            typer.echo(f"{e.name:<24} {e.source:<8} BROKEN: {e.error}")
            continue
        info = e.model.info
        typer.echo(f"{e.name:<24} {e.source:<8} {_describe_generator(info.generator):<28} "
                   f"{info.source_domain} -> {info.target_domain}")


def _describe_generator(config: object) -> str:
    from vidtrans.networks import ResnetGeneratorConfig

    if isinstance(config, ResnetGeneratorConfig):
        return f"resnet {config.n_blocks} blocks, ngf {config.ngf}, {config.norm}"
    return f"unet {config.num_downs} downs, ngf {config.ngf}, {config.norm}"  # type: ignore[attr-defined]


@models_app.command("show")
def models_show(model: str = typer.Argument(..., help="Model name or directory."),
                as_json: bool = typer.Option(False, "--json", help="Print model.json as it is.")) -> None:
    """Show a model's description: architecture, direction, files and provenance."""
    from vidtrans.modeldir import MODEL_JSON
    from vidtrans.networks import build_generator, count_parameters
    from vidtrans.registry import resolve_model

    found = resolve_model(model)
    doc = json.loads((found.path / MODEL_JSON).read_text(encoding="utf-8"))
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
        return
    info = found.info
    typer.echo(f"name:        {info.name}")
    typer.echo(f"path:        {found.path}")
    typer.echo(f"direction:   {info.source_domain} -> {info.target_domain}"
               + ("  (with inverse generator)" if info.has_inverse else ""))
    typer.echo(f"generator:   {_describe_generator(info.generator)}, "
               f"{count_parameters(build_generator(info.generator)):,} parameters")
    if info.training_size:
        typer.echo(f"trained at:  {info.training_size[0]}x{info.training_size[1]}")
    for role, digest in found.sha256.items():
        typer.echo(f"{role + ':':<13}{found.weights_path(role).name} sha256 {digest[:16]}...")  # type: ignore[arg-type]
    for key, value in info.provenance.items():
        typer.echo(f"{key + ':':<13}{value}")


@models_app.command("import")
def models_import(
    file: Path = typer.Argument(..., help="An official CycleGAN/pix2pix generator checkpoint (.pth)."),
    name: str = typer.Option(..., "--name", help="Name to register the model under."),
    arch: Optional[str] = typer.Option(None, "--arch",
                                       help="resnet_9blocks, resnet_6blocks, unet_256 or unet_128 "
                                            "(default: read from the checkpoint)."),
    norm: Optional[str] = typer.Option(None, "--norm", help="instance, batch or none (default: from the checkpoint)."),
    source_domain: str = typer.Option("A", "--source-domain", help="Name of the input domain."),
    target_domain: str = typer.Option("B", "--target-domain", help="Name of the output domain."),
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="Write the model directory here instead of registering it."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing model of that name."),
) -> None:
    """Import an official CycleGAN/pix2pix checkpoint (loaded without unpickling any code)."""
    from vidtrans.errors import UsageError
    from vidtrans.importer import import_checkpoint
    from vidtrans.networks.config import GENERATOR_ARCHS, NORMS
    from vidtrans.registry import validate_name

    validate_name(name)
    if arch is not None and arch not in GENERATOR_ARCHS:
        raise UsageError(f"--arch must be one of {', '.join(GENERATOR_ARCHS)}; got {arch!r}")
    if norm is not None and norm not in NORMS:
        raise UsageError(f"--norm must be one of {', '.join(NORMS)}; got {norm!r}")
    model = import_checkpoint(file, name=name, arch=arch, norm=norm, source_domain=source_domain,  # type: ignore[arg-type]
                              target_domain=target_domain, destination=output, overwrite=overwrite)
    typer.echo(f"imported {file} as {model.name!r} ({_describe_generator(model.info.generator)}) -> {model.path}")


@models_app.command("remove")
def models_remove(name: str = typer.Argument(..., help="Name of one of your models."),
                  yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")) -> None:
    """Delete one of your registered models (bundled models stay)."""
    from vidtrans.errors import UsageError
    from vidtrans.registry import remove_model, resolve_model, validate_name

    validate_name(name)
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"removing {name!r} needs confirmation: pass --yes")
        resolve_model(name)
        typer.confirm(f"Delete model {name!r}?", abort=True)
    path = remove_model(name)
    typer.echo(f"removed {name!r} ({path})")


# --- convert and bench ----------------------------------------------------------------------------


def _resize_spec(size: Optional[str], short_side: Optional[int], scale: Optional[float]):  # -> ResizeSpec
    """The ResizeSpec of --size / --short-side / --scale (also used by synth)."""
    from vidtrans.resize import ResizeSpec, parse_size

    return ResizeSpec(size=parse_size(size) if size else None, short_side=short_side, scale=scale)


@app.command("convert", rich_help_panel=_TRANSLATE)
@runtime_options
@engine_options
def convert_command(
    input: Path = typer.Argument(..., help="A video file (anything FFmpeg reads), an image, a folder of images, "
                                          "or a folder of videos."),
    output: Optional[str] = typer.Option(
        None, "--output", "-o", help="A video (.mp4 .mkv .mov .webm), an image, or a folder for frames or videos "
                                     "(default: beside the input, e.g. clip.MODEL.mp4)."),
    model: str = typer.Option(..., "--model", "-m", help="Model name or model directory."),
    batch_size: int = typer.Option(8, "--batch-size", "-b", help="Frames per batch."),
    codec: Optional[str] = typer.Option(None, "--codec", help="Video encoder (default libx264; libvpx-vp9 for .webm)."),
    crf: int = typer.Option(18, "--crf", help="Constant quality (lower is better; x264/x265, VP9, SVT-AV1, NVENC)."),
    preset: Optional[str] = typer.Option(None, "--preset", help="Encoder speed preset, e.g. veryfast, medium, slow."),
    size: Optional[str] = typer.Option(None, "--size", help="Resize to WIDTHxHEIGHT before translating."),
    short_side: Optional[int] = typer.Option(None, "--short-side", help="Resize so the shorter side is N pixels."),
    scale: Optional[float] = typer.Option(None, "--scale", help="Resize by this factor before translating."),
    keep_size: bool = typer.Option(False, "--keep-size", help="Resize the translation back to the input's size."),
    side_by_side: bool = typer.Option(False, "--side-by-side", help="Write input and translation side by side."),
    frame_format: Optional[str] = typer.Option(None, "--frame-format", help="png or jpg, for folder outputs."),
    fps: float = typer.Option(30.0, "--fps", help="Frame rate when a folder of images becomes a video."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary line."),
    workers: Optional[int] = typer.Option(None, "--workers", help="--engine ray: translating workers (default: "
                                                               "one per GPU, or one per node without GPUs)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
    *, runtime: RuntimeOptions, ray: Optional[RayOptions],
) -> None:
    """Translate a video, an image, a folder of images or a folder of videos with a model (streamed in batches;
    a folder of videos one video at a time, or on Ray with --engine ray)."""
    from vidtrans.console import info
    from vidtrans.conversion import ConvertOptions, convert
    from vidtrans.errors import PartialFailure, UsageError
    from vidtrans.video import EncodeOptions

    if workers is not None and ray is None:
        raise UsageError("--workers goes with --engine ray")
    options = ConvertOptions(
        runtime=runtime, batch_size=batch_size, encode=EncodeOptions(codec=codec, crf=crf, preset=preset),
        resize=_resize_spec(size, short_side, scale), keep_size=keep_size, side_by_side=side_by_side,
        frame_format=frame_format, fps=fps, overwrite=overwrite, progress=not quiet,
        ray=dataclasses.replace(ray, workers=workers) if ray else None)
    summary = convert(input, output, model=model, options=options)
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
    elif not quiet:
        info(summary.line())
    if summary.problems():
        raise PartialFailure(summary.problems())


@app.command("bench", rich_help_panel=_MEASURE)
@runtime_options
def bench_command(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model name or directory."),
    arch: Optional[str] = typer.Option(None, "--arch", help="Instead of --model: a randomly initialised "
                                                           "resnet_9blocks, resnet_6blocks, unet_256 or unet_128."),
    ngf: int = typer.Option(64, "--ngf", help="Generator width for --arch."),
    input: Optional[Path] = typer.Option(None, "--input", "-i", help="A clip to measure on (default: generated)."),
    size: str = typer.Option("1024x512", "--size", help="WIDTHxHEIGHT of the generated clip."),
    frames: int = typer.Option(120, "--frames", help="Frames of the generated clip (at most this many of --input)."),
    batch_size: int = typer.Option(8, "--batch-size", "-b", help="Frames per batch."),
    warmup: int = typer.Option(3, "--warmup", help="Batches to run before timing."),
    codec: Optional[str] = typer.Option(None, "--codec", help="Video encoder for the encode stage (default libx264)."),
    crf: int = typer.Option(18, "--crf", help="Encoder constant quality."),
    preset: Optional[str] = typer.Option(None, "--preset", help="Encoder speed preset."),
    end_to_end: bool = typer.Option(True, "--end-to-end/--no-end-to-end", help="Also time `convert` on the clip."),
    json_file: Optional[Path] = typer.Option(None, "--json", help="Also write the results as JSON to this file."),
    *, runtime: RuntimeOptions,
) -> None:
    """Measure decode, upload, model, download and encode throughput separately and end to end."""
    import tempfile

    from vidtrans.bench import BenchOptions, bench, random_model
    from vidtrans.errors import UsageError
    from vidtrans.fsutil import atomic_write_text, check_writable_target
    from vidtrans.registry import resolve_model
    from vidtrans.resize import parse_size
    from vidtrans.video import EncodeOptions

    if (model is None) == (arch is None):
        raise UsageError("give either --model or --arch (a randomly initialised reference generator)")
    if json_file is not None:
        check_writable_target(json_file, overwrite=True)
    options = BenchOptions(runtime=runtime, batch_size=batch_size, frames=frames, size=parse_size(size),
                           warmup=warmup, encode=EncodeOptions(codec=codec, crf=crf, preset=preset),
                           end_to_end=end_to_end)
    with tempfile.TemporaryDirectory(prefix="vidtrans-bench-") as folder:
        found = resolve_model(model) if model is not None else random_model(arch, ngf, Path(folder))  # type: ignore[arg-type]
        report = bench(found, workdir=Path(folder), input=input, options=options)
    settings = report.settings
    typer.echo(f"{settings['model']} ({settings['parameters']:,} parameters) on {settings['device']} "
               f"{settings['precision']}, batch {settings['batch_size']}, {settings['size'][0]}x{settings['size'][1]}, "
               f"{settings['frames']} frames" + (f", {report.environment['gpu']}" if "gpu" in report.environment else ""))
    typer.echo(report.table())
    if json_file is not None:
        atomic_write_text(json_file, json.dumps(report.to_dict(), indent=2) + "\n")


# --- train ----------------------------------------------------------------------------------------

train_app = typer.Typer(
    cls=DefaultCommandGroup, no_args_is_help=True,
    help="Train CycleGAN (unpaired) or pix2pix (paired): `vidtrans train DOMAIN_A DOMAIN_B --name NAME`, "
         "`vidtrans train --resume runs/NAME`; every option: `vidtrans train run --help`.")
app.add_typer(train_app, name="train", rich_help_panel=_TRAIN)


def _domain_help(name: str) -> str:
    from vidtrans.training.config import setting_fields

    return setting_fields()[name][1].metadata["help"]


@train_app.command("run", hidden=True)
@training_settings
def train_run(
    domain_a: Optional[str] = typer.Argument(None, metavar="DOMAIN_A", help=_domain_help("domain_a")),
    domain_b: Optional[str] = typer.Argument(None, metavar="DOMAIN_B", help=_domain_help("domain_b")),
    config_file: Optional[Path] = typer.Option(None, "--config", help="YAML or TOML settings; flags override it."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this folder."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Folder of runs."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run or model of that name."),
    print_config: bool = typer.Option(False, "--print-config",
                                      help="Print the resolved settings as YAML (a --config file) and exit."),
    *, settings: dict,
) -> None:
    """Train a model on two domains, or continue a run with --resume; every setting is also a --config key."""
    from vidtrans.errors import UsageError
    from vidtrans.training.config import config_to_yaml, load_config
    from vidtrans.training.loop import train
    from vidtrans.training.rundir import load_run_config

    for key, domain in (("domain_a", domain_a), ("domain_b", domain_b)):
        if domain:
            settings[key] = str(Path(domain).expanduser().absolute())
    if resume is not None:
        if config_file is not None:
            raise UsageError("--config cannot be combined with --resume (the run's own config.yaml is used)")
        config = load_run_config(resume, settings)
        run_dir = resume
    else:
        if (domain_a is None) != (domain_b is None):
            raise UsageError("pass both DOMAIN_A and DOMAIN_B (or neither, with --config)")
        config = load_config(config_file, settings)
        run_dir = runs_dir / config.name
    if print_config:
        typer.echo(config_to_yaml(config), nl=False)
        return
    result = train(config, run_dir, resume=resume is not None, overwrite=overwrite)
    if result.model is not None:
        typer.echo(f"{config.name}: step {result.step}, epoch {result.epoch}; model {result.model.name!r} at "
                   f"{result.model.path}")


@train_app.command("export-model")
def train_export_model(
    run_dir: Path = typer.Argument(..., help="The run folder (runs/NAME)."),
    name: Optional[str] = typer.Option(None, "--name", help="Model name (default: the run's name)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="Write the model directory here instead of registering it."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint",
                                              help="Export this checkpoint (default: checkpoints/latest.pt)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing model of that name."),
) -> None:
    """Write the model directory of a run (both generators for CycleGAN) and register it."""
    from vidtrans.training.export_model import export_run

    model = export_run(run_dir, name=name, register=output is None, output=output, checkpoint=checkpoint,
                       overwrite=overwrite)
    typer.echo(f"exported {run_dir} as {model.name!r} -> {model.path}")


# --- export ---------------------------------------------------------------------------------------

from typing import TYPE_CHECKING  # noqa: E402 - kept in this section

if TYPE_CHECKING:
    from vidtrans.modeldir import ModelDirectory


@app.command("export", rich_help_panel=_TRAIN)
def export(
    model: str = typer.Option(..., "--model", "-m", help="Model name or directory."),
    fmt: str = typer.Option("onnx", "--format", "-f", help="onnx or tensorrt."),
    fp16: bool = typer.Option(False, "--fp16", help="onnx: also write the fp16 graph (fp32 inputs and outputs); "
                                                    "tensorrt: build an fp16 engine."),
    opset: Optional[int] = typer.Option(None, "--opset", help="ONNX opset (default 18; an export of another "
                                                              "opset is redone)."),
    inverse: bool = typer.Option(False, "--inverse", help="Export the inverse generator (target -> source)."),
    force: bool = typer.Option(False, "--force", help="Export or build again even when a current one is cached."),
    batch: str = typer.Option("1:8:16", "--batch", help="tensorrt: batch sizes MIN:OPT:MAX of each profile."),
    height: Optional[list[int]] = typer.Option(None, "--height", help="tensorrt: frame height of a profile; repeat "
                                                                      "with --width for several resolutions "
                                                                      "(default: the model's training size)."),
    width: Optional[list[int]] = typer.Option(None, "--width", help="tensorrt: frame width of a profile."),
    device: str = typer.Option("cuda", "--device", help="tensorrt: the GPU to build for (cuda or cuda:N)."),
    workspace: float = typer.Option(4.0, "--workspace", help="tensorrt: builder workspace limit in GiB."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary instead of text."),
) -> None:
    """Export a model to ONNX or build a TensorRT engine, cached in the model directory.

    ONNX graphs are checked and verified against PyTorch; both are reused while the weights match.
    """
    import time

    from vidtrans.console import format_duration
    from vidtrans.errors import UsageError
    from vidtrans.registry import resolve_model

    if fmt not in ("onnx", "tensorrt"):
        raise UsageError(f"--format must be onnx or tensorrt; got {fmt!r}")
    started = time.perf_counter()
    found = resolve_model(model)
    if fmt == "onnx":
        artifacts, lines = _export_onnx(found, fp16=fp16, opset=opset, inverse=inverse, force=force)
    else:
        artifacts, lines = _export_tensorrt(found, fp16=fp16, inverse=inverse, force=force, batch=batch,
                                            heights=height or [], widths=width or [], device=device,
                                            workspace=workspace)
    seconds = time.perf_counter() - started
    if as_json:
        typer.echo(json.dumps({"model": found.name, "path": str(found.path), "format": fmt, "artifacts": artifacts,
                               "seconds": round(seconds, 3)}, indent=2))
        return
    for line in lines:
        typer.echo(line)
    typer.echo(f"done in {format_duration(seconds)}")


def _export_onnx(model: ModelDirectory, *, fp16: bool, opset: Optional[int], inverse: bool,
                 force: bool) -> tuple[list[dict], list[str]]:
    from vidtrans.console import format_duration
    from vidtrans.deploy.onnx_export import check_opset, ensure_onnx

    if opset is not None:
        check_opset(opset)
    artifacts, lines = [], []
    for precision in ("fp32", "fp16") if fp16 else ("fp32",):
        artifact = ensure_onnx(model, precision=precision, inverse=inverse, opset=opset, force=force)
        size_mb = artifact.path.stat().st_size / 1e6
        state = ("up to date (weights unchanged; --force exports again)" if artifact.reused
                 else f"exported in {format_duration(artifact.seconds)}")
        lines.append(f"onnx {precision}: {artifact.path} (opset {artifact.opset}, {size_mb:.1f} MB) {state}")
        lines += [f"  verified, ONNX Runtime (CPU) vs PyTorch, {check.describe()}" for check in artifact.checks]
        lines.append(f"  tolerance {artifact.tolerance:.1e}; details in {artifact.sidecar.name}")
        artifacts.append({"precision": precision, "path": str(artifact.path), "opset": artifact.opset,
                          "reused": artifact.reused, "seconds": round(artifact.seconds, 3),
                          "onnx_sha256": artifact.onnx_sha256, "tolerance": artifact.tolerance,
                          "checks": [check.to_json() for check in artifact.checks]})
    return artifacts, lines


def _export_tensorrt(model: ModelDirectory, *, fp16: bool, inverse: bool, force: bool, batch: str,
                     heights: list[int], widths: list[int], device: str,
                     workspace: float) -> tuple[list[dict], list[str]]:
    from vidtrans.console import format_duration
    from vidtrans.devices import resolve_device
    from vidtrans.errors import UsageError
    from vidtrans.deploy.engine_cache import BatchRange, profiles_for
    from vidtrans.deploy.tensorrt_build import ensure_engine, import_tensorrt, require_gpu

    import_tensorrt()
    target = resolve_device(device)
    require_gpu(target)
    if len(heights) != len(widths):
        raise UsageError(f"--height and --width come in pairs; got {len(heights)} height(s) and {len(widths)} "
                         f"width(s)")
    sizes = list(zip(widths, heights))
    if not sizes:
        if model.info.training_size is None:
            raise UsageError("give the frame size(s) to build for with --width W --height H (the model records no "
                             "training size)")
        sizes = [model.info.training_size]
    multiple = model.info.generator.size_multiple
    profiles = profiles_for(sizes, BatchRange.parse(batch), multiple=multiple)
    lines = [f"{w}x{h} is padded to a multiple of {multiple}, as convert does"
             for w, h in sizes if w % multiple or h % multiple]
    precision = "fp16" if fp16 else "fp32"
    artifact = ensure_engine(model, device=target, precision=precision, profiles=profiles, inverse=inverse,
                             workspace_gib=workspace, force=force)
    state = f"built in {format_duration(artifact.seconds)}" if artifact.built else "cached (--force builds again)"
    lines.append(f"tensorrt {precision}: {artifact.path} {state}")
    lines.append(f"  for {artifact.key.describe_target()}, from {artifact.onnx.path.name}; profiles: "
                 f"{', '.join(p.describe() for p in artifact.key.profiles)}")
    artifacts = [{"precision": precision, "path": str(artifact.path), "built": artifact.built,
                  "seconds": round(artifact.seconds, 3), "key": artifact.key.to_json(),
                  "onnx": str(artifact.onnx.path)}]
    return artifacts, lines


# --- demo and eval --------------------------------------------------------------------------------


demo_app = typer.Typer(help="Run the whole job offline on a generated clip; `vidtrans demo scenes` writes "
                            "synthetic driving datasets.")
app.add_typer(demo_app, name="demo", rich_help_panel=_TRANSLATE)


@demo_app.callback(invoke_without_command=True)
@runtime_options
def demo_command(
    ctx: typer.Context,
    output_dir: Path = typer.Option(Path("vidtrans-demo"), "--output-dir", "-o", help="Where the clips go."),
    model: str = typer.Option("demo", "--model", "-m", help="Model to translate with (the bundled game -> real one)."),
    size: str = typer.Option("512x256", "--size", help="WIDTHxHEIGHT of the generated clip."),
    frames: int = typer.Option(40, "--frames", help="Frames in the generated clip (10 per second)."),
    seed: int = typer.Option(2026, "--seed", help="Which procedural scene to drive through."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    *, runtime: RuntimeOptions,
) -> None:
    """Render a game-style clip, translate it with the bundled demo model, and write a side-by-side clip."""
    if ctx.invoked_subcommand is not None:
        return
    from vidtrans.demo import DemoOptions, run_demo
    from vidtrans.resize import parse_size

    width, height = parse_size(size)
    summary = run_demo(DemoOptions(output_dir=output_dir, model=model, width=width, height=height, frames=frames,
                                   seed=seed, runtime=runtime, progress=not quiet))
    typer.echo(f"done in {summary.wall_s:.1f}s:\n"
               f"  game-style input  {summary.game_clip}\n"
               f"  translated        {summary.translated.output}\n"
               f"  side by side      {summary.side_by_side.output}")


@demo_app.command("scenes")
def demo_scenes_command(
    output_dir: Path = typer.Argument(..., help="Folder to write the dataset into."),
    count: int = typer.Option(100, "--count", "-n", help="Scenes (images), or clips with --video."),
    size: str = typer.Option("512x256", "--size", help="WIDTHxHEIGHT."),
    first_seed: int = typer.Option(0, "--first-seed", help="Seed of the first scene; scene i uses first_seed + i."),
    video: bool = typer.Option(False, "--video", help="Write clips (camera driving forward) instead of images."),
    frames_per_clip: int = typer.Option(30, "--frames-per-clip", help="Frames per clip with --video."),
    fps: float = typer.Option(10.0, "--fps", help="Clip frame rate with --video."),
    layout: str = typer.Option("driving", "--layout", help="driving (game: GTA5 layout, real: Cityscapes-like) or "
                                                         "paired (game/, real/, labels/ with equal names)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a folder that is not empty."),
) -> None:
    """Write procedural driving scenes in a game and a real style, with Cityscapes train-ID labels."""
    from vidtrans.errors import UsageError
    from vidtrans.resize import parse_size
    from vidtrans.scenes import write_scene_dataset

    width, height = parse_size(size)
    try:
        summary = write_scene_dataset(output_dir, count=count, width=width, height=height, first_seed=first_seed,
                                      video=video, frames_per_clip=frames_per_clip, fps=fps, layout=layout,  # type: ignore[arg-type]
                                      overwrite=overwrite)
    except ValueError as error:
        raise UsageError(str(error)) from None
    kind = "clips" if video else "scenes"
    typer.echo(f"wrote {summary.count} {kind} ({summary.frames} frames, seeds {summary.seeds[0]}-{summary.seeds[-1]}) "
               f"to {summary.out_dir}")


@app.command("eval", rich_help_panel=_MEASURE)
@runtime_options
def eval_command(
    model: str = typer.Option(..., "--model", "-m", help="Model name or directory."),
    pairs: Optional[tuple[Path, Path]] = typer.Option(
        None, "--pairs", metavar="A_DIR B_DIR",
        help="Paired folders matched by relative file name: PSNR/SSIM of G(a) against b, and of a (baseline)."),
    source: Optional[Path] = typer.Option(None, "--source", help="Source-domain images (unpaired evaluation)."),
    target: Optional[Path] = typer.Option(None, "--target", help="Target-domain images, for FID/KID (unpaired)."),
    output: Path = typer.Option(Path("vidtrans-eval"), "--output", "-o", help="Folder for report.json and examples.png."),
    inception_weights: Optional[Path] = typer.Option(
        None, "--inception-weights", help="pytorch-fid Inception weights (pt_inception-2015-12-05-6726825d.pth); "
                                          "enables FID and KID."),
    max_items: Optional[int] = typer.Option(None, "--max-items", help="Evaluate at most this many images."),
    examples: int = typer.Option(4, "--examples", help="Rows in examples.png (0: none)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing report."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    *, runtime: RuntimeOptions,
) -> None:
    """Measure a model: paired PSNR/SSIM against a baseline, cycle consistency, FID/KID."""
    from vidtrans.errors import UsageError
    from vidtrans.evaluate import EvalOptions, evaluate
    from vidtrans.registry import resolve_model

    if (pairs is None) == (source is None):
        raise UsageError("give either --pairs A_DIR B_DIR or --source DIR [--target DIR]")
    if pairs is not None and target is not None:
        raise UsageError("--target goes with --source; --pairs already names the target folder")
    found = resolve_model(model)
    options = EvalOptions(runtime=runtime, max_items=max_items,
                          examples=examples, inception_weights=inception_weights, overwrite=overwrite, quiet=quiet)
    report = evaluate(found, source=pairs[0] if pairs else source, target=pairs[1] if pairs else target,
                      paired=pairs is not None, output_dir=output, options=options)
    typer.echo(json.dumps(report.to_json(), indent=2) if as_json else "\n".join(report.summary_lines()))



# --- synth ----------------------------------------------------------------------------------------


@app.command("synth", rich_help_panel=_TRANSLATE)
@runtime_options
@engine_options
def synth_command(
    input: Optional[Path] = typer.Argument(None, help="A dataset: GTA5 (images/ + labels/), Cityscapes "
                                                      "(leftImg8bit/ + gtFine/), any folder of images and videos, "
                                                      "or one video."),
    output: Optional[Path] = typer.Argument(None, help="Output folder; mirrors INPUT's tree (resumed when rerun)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model name or model directory."),
    merge: Optional[Path] = typer.Option(None, "--merge", metavar="OUTPUT",
                                         help="Check the job in OUTPUT for completeness (all shards) and write "
                                              "OUTPUT/manifest.jsonl."),
    batch_size: int = typer.Option(8, "--batch-size", "-b", help="Images per batch."),
    size: Optional[str] = typer.Option(None, "--size", help="Resize to WIDTHxHEIGHT before translating."),
    short_side: Optional[int] = typer.Option(None, "--short-side", help="Resize so the shorter side is N pixels."),
    scale: Optional[float] = typer.Option(None, "--scale", help="Resize by this factor before translating."),
    keep_size: bool = typer.Option(False, "--keep-size", help="Write the translation at the source's size "
                                                              "(to match its labels)."),
    fmt: str = typer.Option("auto", "--format", help="auto (each image's own; PNG for video frames), png, jpg "
                                                     "or webp."),
    quality: int = typer.Option(95, "--quality", help="JPEG / WebP quality, 1-100."),
    link_labels: bool = typer.Option(False, "--link-labels", help="Hard-link label files instead of copying."),
    every: Optional[int] = typer.Option(None, "--every", help="Videos: take every N-th frame."),
    fps: Optional[float] = typer.Option(None, "--fps", help="Videos: take F frames a second."),
    shard: Optional[str] = typer.Option(None, "--shard", help="I/N: translate part I (0-based) of N (default: "
                                                              "torchrun's RANK/WORLD_SIZE, a Slurm array task's "
                                                              "SLURM_ARRAY_TASK_ID/COUNT)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Local engine: decode and encode threads "
                                                                  "(min(8, CPUs)); --engine ray: translating "
                                                                  "workers (one per GPU, or per node)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Restart the job in OUTPUT, or write into a "
                                                              "folder that is not a synth output."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary line."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary (items/s included) as JSON on stdout."),
    *, runtime: RuntimeOptions, ray: Optional[RayOptions],
) -> None:
    """Translate a labelled dataset or sampled video frames into OUTPUT: labels copied, a manifest, resumable,
    shardable (`--shard I/N`, torchrun, Slurm arrays), then `vidtrans synth --merge OUTPUT` for sharded jobs;
    `--engine ray` runs it on a Ray cluster."""
    from vidtrans.console import info
    from vidtrans.errors import PartialFailure, UsageError

    if merge is not None:
        if input is not None or output is not None or model is not None or ray is not None:
            raise UsageError("--merge takes only the output folder: vidtrans synth --merge OUTPUT")
        from vidtrans.synthesis import merge_job

        report = merge_job(merge)
        if as_json:
            typer.echo(json.dumps(report.to_dict(), indent=2))
        elif not quiet:
            info(report.line())
        if report.problems():
            raise PartialFailure(report.problems())
        return
    if input is None or output is None:
        raise UsageError("synth needs INPUT and OUTPUT (or --merge OUTPUT)")
    if model is None:
        raise UsageError("synth needs --model NAME (a registered name or a model directory)")
    from vidtrans.synthesis import DEFAULT_WORKERS, Sampling, SynthOptions, resolve_shard, synth

    options = SynthOptions(
        runtime=runtime, batch_size=batch_size, resize=_resize_spec(size, short_side, scale), keep_size=keep_size,
        format=fmt, quality=quality, link_labels=link_labels,  # type: ignore[arg-type]
        sampling=Sampling(every=every, fps=fps),
        shard=resolve_shard(shard), workers=DEFAULT_WORKERS if workers is None or ray else workers,
        overwrite=overwrite, progress=not quiet, ray=dataclasses.replace(ray, workers=workers) if ray else None)
    summary = synth(input, output, model=model, options=options)
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
    elif not quiet:
        for note in summary.notes:
            info(f"note: {note}")
        info(summary.line())
    if summary.problems():
        raise PartialFailure(summary.problems())


# --- entry point ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; user errors print one line, never a traceback (unless --debug).

    Typer reports usage errors itself (exit code 2); vidtrans' own errors and unexpected ones are caught here.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")  # vidtrans reports unreadable images itself
    try:
        app(args=args, prog_name="vidtrans")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except KeyboardInterrupt:
        print("vidtrans: interrupted", file=sys.stderr)
        return 130
    except VidtransError as error:
        if _debug or "--debug" in args:
            raise
        print(f"vidtrans: error: {error}", file=sys.stderr)
        return error.exit_code
    except Exception as error:  # noqa: BLE001 - the last line of defence against a bare traceback
        if _debug or "--debug" in args:
            raise
        print(f"vidtrans: internal error: {type(error).__name__}: {error} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
