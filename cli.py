"""The `vidtrans` command line: one thin function per command over the library.

Each command parses its options into the library's typed arguments, makes one library call and maps the
result to an exit code. Errors the user can fix (`VidtransError`) become a one-line message; `--debug`
shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import typer
from typer.core import TyperGroup

import vidtrans
from vidtrans.cli_params import engine_options, runtime_options, training_settings
from vidtrans.engines import RayOptions
from vidtrans.errors import Interrupted, VidtransError
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
            "name": e.name, "source": e.source, "path": str(e.path), "error": e.error, "note": e.note,
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
                   f"{info.source_domain} -> {info.target_domain}" + (f"  NOTE: {e.note}" if e.note else ""))


def _describe_generator(config: object) -> str:
    from vidtrans.networks import ResnetGeneratorConfig

    if isinstance(config, ResnetGeneratorConfig):
        return f"resnet {config.n_blocks} blocks, ngf {config.ngf}, {config.norm}"
    return f"unet {config.num_downs} downs, ngf {config.ngf}, {config.norm}"  # type: ignore[attr-defined]


@models_app.command("show")
def models_show(model: str = typer.Argument(..., help="Model name or directory."),
                as_json: bool = typer.Option(False, "--json", help="Print model.json as it is.")) -> None:
    """Show a model's card (README.md beside the weights): what it translates, training, metrics, use, files."""
    from vidtrans.modelcard import CARD_FILE, render_card
    from vidtrans.modeldir import MODEL_JSON
    from vidtrans.registry import resolve_model

    found = resolve_model(model)
    if as_json:
        typer.echo((found.path / MODEL_JSON).read_text(encoding="utf-8"), nl=False)
        return
    card = found.path / CARD_FILE
    typer.echo(f"<!-- {found.path} -->")
    typer.echo(card.read_text(encoding="utf-8") if card.is_file() else render_card(found.info, found.sha256), nl=False)


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


def _encode_options(encoder: str, crf: int, preset: Optional[str], codec: Optional[str]):  # -> EncodeOptions
    """The EncodeOptions of --encoder / --crf / --preset; the old --codec gets a one-line error naming its new name."""
    from vidtrans.errors import UsageError
    from vidtrans.video import EncodeOptions

    if codec is not None:
        raise UsageError(f"--codec is now --encoder: use --encoder {codec}")
    return EncodeOptions(encoder=encoder, crf=crf, preset=preset)


_ENCODER_HELP = ("auto (NVENC where it works, else libx264 at preset veryfast; VP9 for .webm), libx264, libx265, "
                 "h264_nvenc, hevc_nvenc, av1_nvenc, or another FFmpeg video encoder.")
_PRESET_HELP = "Speed preset of the named --encoder (x264/x265: ultrafast..veryslow, NVENC: p1..p7)."


def _report(summary: Any, *, as_json: bool, quiet: bool, notes: tuple[str, ...] = ()) -> None:
    """Print a job's summary (JSON on stdout, or `notes` and its line on stderr unless quiet); exit 3 when items
    failed. `summary` has `to_dict()`, `line()` and `problems()` (convert, synth and merge summaries)."""
    from vidtrans.console import info
    from vidtrans.errors import PartialFailure

    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
    elif not quiet:
        for note in notes:
            info(f"note: {note}")
        info(summary.line())
    if summary.problems():
        raise PartialFailure(summary.problems())


@app.command("convert", rich_help_panel=_TRANSLATE)
@runtime_options
@engine_options
def convert_command(
    input: Path = typer.Argument(..., help="A video file (anything FFmpeg reads), an image, a folder of images, "
                                           "a folder of videos, or - for a video on standard input."),
    output: Optional[str] = typer.Option(
        None, "--output", "-o", help="A video (.mp4 .mkv .mov .webm), an image, or a folder for frames or videos "
                                     "(default: beside the input, e.g. clip.MODEL.mp4)."),
    model: str = typer.Option(..., "--model", "-m", help="Model name or model directory."),
    batch_size: int = typer.Option(8, "--batch-size", "-b", help="Frames per batch."),
    encoder: str = typer.Option("auto", "--encoder", help=_ENCODER_HELP),
    codec: Optional[str] = typer.Option(None, "--codec", hidden=True, help="Renamed --encoder."),
    crf: int = typer.Option(18, "--crf", help="Constant quality (lower is better; x264/x265, VP9, SVT-AV1, NVENC)."),
    preset: Optional[str] = typer.Option(None, "--preset", help=_PRESET_HELP),
    size: Optional[str] = typer.Option(None, "--size", help="Resize to WIDTHxHEIGHT before translating."),
    short_side: Optional[int] = typer.Option(None, "--short-side", help="Resize so the shorter side is N pixels."),
    scale: Optional[float] = typer.Option(None, "--scale", help="Resize by this factor before translating."),
    keep_size: bool = typer.Option(False, "--keep-size", help="Resize the translation back to the input's size."),
    side_by_side: bool = typer.Option(False, "--side-by-side", help="Write input and translation side by side."),
    review: Optional[Path] = typer.Option(None, "--review", help="Also write a side-by-side video (input | "
                                                                 "translation) here, from the same pass."),
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
    from vidtrans.conversion import ConvertOptions, convert
    from vidtrans.errors import UsageError

    if workers is not None and ray is None:
        raise UsageError("--workers goes with --engine ray")
    options = ConvertOptions(
        runtime=runtime, batch_size=batch_size, encode=_encode_options(encoder, crf, preset, codec),
        resize=_resize_spec(size, short_side, scale), keep_size=keep_size, side_by_side=side_by_side, review=review,
        frame_format=frame_format, fps=fps, overwrite=overwrite, progress=not quiet,
        ray=dataclasses.replace(ray, workers=workers) if ray else None)
    _report(convert(input, output, model=model, options=options), as_json=as_json, quiet=quiet)


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
    encoder: str = typer.Option("auto", "--encoder", help=_ENCODER_HELP + " As convert would use it."),
    codec: Optional[str] = typer.Option(None, "--codec", hidden=True, help="Renamed --encoder."),
    crf: int = typer.Option(18, "--crf", help="Encoder constant quality."),
    preset: Optional[str] = typer.Option(None, "--preset", help=_PRESET_HELP),
    end_to_end: bool = typer.Option(True, "--end-to-end/--no-end-to-end", help="Also time `convert` on the clip."),
    json_file: Optional[Path] = typer.Option(None, "--json", help="Also write the results as JSON to this file."),
    *, runtime: RuntimeOptions,
) -> None:
    """Measure decode, upload, model, download and encode throughput separately and end to end."""
    import tempfile

    from vidtrans.bench import BenchOptions, bench
    from vidtrans.reference import random_model
    from vidtrans.errors import UsageError
    from vidtrans.fsutil import atomic_write_text, check_writable_target
    from vidtrans.registry import resolve_model
    from vidtrans.resize import parse_size

    if (model is None) == (arch is None):
        raise UsageError("give either --model or --arch (a randomly initialised reference generator)")
    if json_file is not None:
        check_writable_target(json_file, overwrite=True)
    options = BenchOptions(runtime=runtime, batch_size=batch_size, frames=frames, size=parse_size(size),
                           warmup=warmup, encode=_encode_options(encoder, crf, preset, codec),
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
    restart: bool = typer.Option(False, "--restart", help="With --resume: start that run again from step 0 with "
                                                          "its saved settings, replacing its checkpoints."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Folder of runs."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run or model of that name."),
    print_config: bool = typer.Option(False, "--print-config",
                                      help="Print the resolved settings as YAML (a --config file) and exit."),
    *, settings: dict,
) -> None:
    """Train a model on two domains, or continue a run with --resume; every setting is also a --config key."""
    from vidtrans.training.config import config_to_yaml
    from vidtrans.training.launch import resolve_run
    from vidtrans.training.loop import train

    config, run_dir = resolve_run(domain_a, domain_b, settings, config_file=config_file, resume=resume,
                                  runs_dir=runs_dir)
    if print_config:
        typer.echo(config_to_yaml(config), nl=False)
        return
    result = train(config, run_dir, resume=resume is not None, restart=restart, overwrite=overwrite)
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
    from vidtrans.console import format_duration
    from vidtrans.deploy.export_job import ExportOptions, export_model
    from vidtrans.errors import UsageError
    from vidtrans.registry import resolve_model

    heights, widths = height or [], width or []
    if len(heights) != len(widths):
        raise UsageError(f"--height and --width come in pairs; got {len(heights)} height(s) and {len(widths)} "
                         f"width(s)")
    options = ExportOptions(format=fmt, fp16=fp16, opset=opset, inverse=inverse, force=force, batch=batch,  # type: ignore[arg-type]
                            sizes=tuple(zip(widths, heights)), device=device, workspace_gib=workspace)
    result = export_model(resolve_model(model), options)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    for line in result.lines:
        typer.echo(line)
    typer.echo(f"done in {format_duration(result.seconds)}")


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
               f"  side by side      {summary.side_by_side}")


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
    content: str = typer.Option("game", "--content", help="What the scenes hold, in both looks: game (GTA5-like) "
                                                          "or real (Cityscapes-like: ego-vehicle hood labelled 255, "
                                                          "except in the paired layout; denser city, less sky)."),
    hood: bool = typer.Option(True, "--hood/--no-hood", help="Draw the real content's ego-vehicle hood (driving "
                                                             "layout and clips)."),
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
                                      content=content, hood=hood, overwrite=overwrite)  # type: ignore[arg-type]
    except ValueError as error:
        raise UsageError(str(error)) from None
    kind = "clips" if video else "scenes"
    typer.echo(f"wrote {summary.count} {kind} ({content} content, {summary.frames} frames, "
               f"seeds {summary.seeds[0]}-{summary.seeds[-1]}) to {summary.out_dir}")


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
    fcn_score: bool = typer.Option(False, "--fcn-score", help="FCN score (CycleGAN's Table 1), hood score and "
                                                               "label-flip rate: a real-domain segmenter labels a, "
                                                               "G(a) and b against a's labels (needs --labels)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="The source images' label maps (train IDs), with "
                                                                 "the same relative names, for --fcn-score."),
    segmenter: Optional[str] = typer.Option(None, "--segmenter", help="For --fcn-score: a segmenter directory, an "
                                                                      ".onnx file with its .json sidecar, or a "
                                                                      "bundled name (default: scenes-real)."),
    record: bool = typer.Option(False, "--record", help="Add the results to the model's card (README.md) and "
                                                      "model.json."),
    allow_other_inception: bool = typer.Option(
        False, "--allow-other-inception", help="Use --inception-weights that are not pytorch-fid's file (their FID "
                                               "is not comparable with published figures)."),
    max_items: Optional[int] = typer.Option(None, "--max-items", help="Evaluate at most this many images."),
    examples: int = typer.Option(4, "--examples", help="Rows in examples.png (0: none)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing report."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    *, runtime: RuntimeOptions,
) -> None:
    """Measure a model: paired PSNR/SSIM against a baseline, cycle consistency, FID/KID, the FCN score."""
    from vidtrans.errors import UsageError
    from vidtrans.evaluate import EvalOptions, evaluate
    from vidtrans.registry import resolve_model

    if (pairs is None) == (source is None):
        raise UsageError("give either --pairs A_DIR B_DIR or --source DIR [--target DIR]")
    if pairs is not None and target is not None:
        raise UsageError("--target goes with --source; --pairs already names the target folder")
    found = resolve_model(model)
    options = EvalOptions(runtime=runtime, max_items=max_items, examples=examples,
                          inception_weights=inception_weights, allow_other_inception=allow_other_inception,
                          fcn_score=fcn_score, segmenter=segmenter, record=record, overwrite=overwrite, quiet=quiet)
    report = evaluate(found, source=pairs[0] if pairs else source, target=pairs[1] if pairs else target,
                      paired=pairs is not None, output_dir=output, labels=labels, options=options)
    typer.echo(json.dumps(report.to_json(), indent=2) if as_json else "\n".join(report.summary_lines()))



@app.command("doctor", rich_help_panel=_MEASURE)
def doctor_command(as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """Show the environment as vidtrans sees it (torch and GPU, ONNX Runtime, TensorRT, PyAV/FFmpeg and NVENC,
    what `auto` picks) and what to install for what is missing; exits 0 when the CPU path works."""
    from vidtrans.doctor import diagnose
    from vidtrans.errors import VidtransError

    report = diagnose()
    typer.echo(json.dumps(report.to_json(), indent=2) if as_json else "\n".join(report.lines()))
    if not report.ok:
        raise VidtransError("the CPU path does not work (see the `cpu path` line)")


# --- segmenter -------------------------------------------------------------------------------------

segmenter_app = typer.Typer(help="Segmenters for the FCN score and for training losses: `vidtrans segmenter train "
                                 "DATA -o DIR`.", no_args_is_help=True)
app.add_typer(segmenter_app, name="segmenter", rich_help_panel=_TRAIN)


@segmenter_app.command("train")
def segmenter_train_command(
    data: list[Path] = typer.Argument(..., help="Labelled folders: GTA5 layout (images/ + labels/) or Cityscapes "
                                                "(leftImg8bit/ + gtFine/ with *_gtFine_labelTrainIds.png)."),
    output: Path = typer.Option(..., "--output", "-o", help="The segmenter directory to write."),
    size: str = typer.Option("256x128", "--size", help="WIDTHxHEIGHT images are resized to (multiples of 16); the "
                                                       "segmenter later sees images at this size."),
    crop: Optional[str] = typer.Option(None, "--crop", help="Train on random WIDTHxHEIGHT crops of the resized images."),
    steps: int = typer.Option(400, "--steps", help="Training steps."),
    batch_size: int = typer.Option(8, "--batch-size", "-b", help="Images per step."),
    lr: float = typer.Option(1e-2, "--lr", help="Adam learning rate (cosine-decayed)."),
    seed: int = typer.Option(0, "--seed", help="Seed for weights and batches."),
    ego_vehicle: bool = typer.Option(False, "--ego-vehicle", help="Learn an 'ego vehicle' class from the ignore-"
                                                                  "labelled regions touching the bottom edge (the "
                                                                  "hood), for the hood score."),
    augment: bool = typer.Option(False, "--augment", help="Give every training image a random look (brightness, "
                                                          "contrast, saturation, colour, blur, noise): for a "
                                                          "source-domain segmenter of `train --semantic-loss`."),
    split: Optional[str] = typer.Option(None, "--split", help="Cityscapes: only leftImg8bit/SPLIT (default: all)."),
    validation: Optional[Path] = typer.Option(None, "--val", help="A labelled folder to score the result on."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing segmenter directory."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train a segmenter on labelled folders and write it: torch weights, a verified ONNX file and its sidecar."""
    from vidtrans.resize import parse_size
    from vidtrans.segmenter.build import SegmenterTrainOptions, train_segmenter

    options = SegmenterTrainOptions(size=parse_size(size), crop=parse_size(crop) if crop else None, steps=steps,
                                    batch_size=batch_size, lr=lr, seed=seed, ego_vehicle=ego_vehicle, augment=augment,
                                    split=split, validation=validation, device=device, overwrite=overwrite,
                                    progress=not quiet)
    summary = train_segmenter(data, output, options)
    typer.echo("\n".join(summary.lines()))


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
    from vidtrans.errors import UsageError

    if merge is not None:
        if input is not None or output is not None or model is not None or ray is not None:
            raise UsageError("--merge takes only the output folder: vidtrans synth --merge OUTPUT")
        from vidtrans.synthesis import merge_job

        _report(merge_job(merge), as_json=as_json, quiet=quiet)
        return
    if input is None or output is None:
        raise UsageError("synth needs INPUT and OUTPUT (or --merge OUTPUT)")
    if model is None:
        raise UsageError("synth needs --model NAME (a registered name or a model directory)")
    from vidtrans.synthesis import Sampling, Shard, SynthOptions, synth

    options = SynthOptions(
        runtime=runtime, batch_size=batch_size, resize=_resize_spec(size, short_side, scale), keep_size=keep_size,
        format=fmt, quality=quality, link_labels=link_labels,  # type: ignore[arg-type]
        sampling=Sampling(every=every, fps=fps),
        shard=Shard.parse(shard) if shard else None, workers=None if ray else workers, overwrite=overwrite,
        progress=not quiet, ray=dataclasses.replace(ray, workers=workers) if ray else None)
    summary = synth(input, output, model=model, options=options)
    _report(summary, as_json=as_json, quiet=quiet, notes=summary.notes)


# --- entry point ----------------------------------------------------------------------------------------


def _click_exception_type() -> type[Exception]:
    """click's ClickException: inside typer since typer vendored click, from click itself before."""
    try:
        from typer._click.exceptions import ClickException
    except ImportError:  # typer that depends on click
        from click.exceptions import ClickException  # type: ignore[no-redef]
    return ClickException


def _report_click_error(error: Exception) -> int:
    """Print a click usage error as one line, `vidtrans: error: ...`, and return its exit code (2).

    The help a missing subcommand asks for (`vidtrans models`) has already been printed when this is raised.
    """
    code = int(getattr(error, "exit_code", 2))
    if type(error).__name__ == "NoArgsIsHelpError":
        return code
    message = " ".join(error.format_message().split()).rstrip(".")  # type: ignore[attr-defined]
    message = message[:1].lower() + message[1:]
    ctx = getattr(error, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    print(f"vidtrans: error: {message}{hint}", file=sys.stderr)
    return code


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _raise_interrupted(signum: int, frame: object) -> None:
    for number in _STOP_SIGNALS:  # once: the cleanup that follows runs undisturbed
        signal.signal(number, signal.SIG_IGN)
    raise Interrupted(signum)


@contextlib.contextmanager
def _stop_signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP stop the run like Ctrl-C (unless ignored, as under nohup), in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in _STOP_SIGNALS}
    for number, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(number, _raise_interrupted)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; errors print one line, never a traceback (unless --debug).

    Usage errors (unknown or missing options, bad values) exit with 2, like vidtrans' own UsageError;
    `--help` stays rich. Ctrl-C exits with 130; SIGTERM and SIGHUP stop the run the same way (exit codes
    143 and 129); vidtrans' own errors and unexpected ones are caught here.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")  # vidtrans reports unreadable images itself
    try:
        with _stop_signals_interrupt():
            code = app(args=args, prog_name="vidtrans", standalone_mode=False)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except KeyboardInterrupt:
        print("vidtrans: interrupted", file=sys.stderr)
        return 130
    except Interrupted as stop:
        print(f"vidtrans: interrupted by {signal.Signals(stop.signum).name}", file=sys.stderr)
        return stop.exit_code
    except typer.Abort as stop:
        if isinstance(stop.__cause__, KeyboardInterrupt):
            print("vidtrans: interrupted", file=sys.stderr)
            return 130
        print("vidtrans: aborted", file=sys.stderr)
        return 1
    except VidtransError as error:
        if _debug or "--debug" in args:
            raise
        print(f"vidtrans: error: {error}", file=sys.stderr)
        return error.exit_code
    except Exception as error:  # noqa: BLE001 - the last line of defence against a bare traceback
        if isinstance(error, _click_exception_type()):
            return _report_click_error(error)
        if _debug or "--debug" in args:
            raise
        print(f"vidtrans: internal error: {type(error).__name__}: {error} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
