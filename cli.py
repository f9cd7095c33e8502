"""The `vidtrans` command line: one thin function per command over the library.

Each command parses its options into the library's typed arguments, makes one library call and maps the
result to an exit code. Errors the user can fix (`VidtransError`) become a one-line message; `--debug`
shows the traceback instead.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

import vidtrans
from vidtrans.errors import VidtransError

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
models_app = typer.Typer(help="List, inspect, import and remove models.", no_args_is_help=True)
app.add_typer(models_app, name="models")


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


# --- train ----------------------------------------------------------------------------------------


# --- export ---------------------------------------------------------------------------------------


# --- demo and eval --------------------------------------------------------------------------------


# --- synth ----------------------------------------------------------------------------------------


# --- entry point ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; user errors print one line, never a traceback (unless --debug).

    Typer reports usage errors itself (exit code 2); vidtrans' own errors and unexpected ones are caught here.
    """
    args = list(sys.argv[1:] if argv is None else argv)
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
