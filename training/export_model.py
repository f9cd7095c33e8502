"""Turning a training run into a model directory (both generators for CycleGAN), registered by name."""

from __future__ import annotations

import json
from pathlib import Path

from vidtrans.errors import InputError, OutputError
from vidtrans.modeldir import MODEL_JSON, ModelDirectory, ModelInfo, generator_with_weights, save_model
from vidtrans.registry import user_model_path, validate_name
from vidtrans.training.checkpoint import LATEST, checkpoint_files, load_checkpoint
from vidtrans.training.config import config_from_dict, flat_settings

RUN_MODEL = "model"  # where an unregistered run keeps its model: runs/NAME/model


def _owned_by(path: Path, run_dir: Path) -> bool:
    """Whether the model directory at `path` was written by this run (so the run may replace it): its own
    `runs/NAME/model` always is, even after the run folder moved; elsewhere, its provenance says so."""
    if Path(path).resolve() == (Path(run_dir) / RUN_MODEL).resolve():
        return True
    try:
        doc = json.loads((path / MODEL_JSON).read_text(encoding="utf-8"))
        return doc["provenance"]["training_run"] == str(run_dir.resolve())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def model_destination(run_dir: Path, name: str, *, register: bool, output: Path | None = None) -> Path:
    """Where the model of a run goes: `output`, the registry entry `name`, or `runs/NAME/model`."""
    if output is not None:
        return Path(output)
    return user_model_path(name) if register else run_dir / RUN_MODEL


def check_destination(run_dir: Path, name: str, *, register: bool, overwrite: bool) -> None:
    """Fail before training, not after it, when the run's model could not be written without --overwrite."""
    destination = model_destination(Path(run_dir), name, register=register)
    if destination.exists() and not overwrite and not _owned_by(destination, Path(run_dir)):
        raise OutputError(f"{destination}: a model called {name!r} already exists and was not written by this "
                          "run (pass --overwrite to replace it, --no-register, or choose another --name)")


def export_run(run_dir: Path, *, name: str | None = None, register: bool = True, output: Path | None = None,
               checkpoint: Path | None = None, overwrite: bool = False) -> ModelDirectory:
    """Write the model directory of `run_dir` from its latest (or the given) checkpoint.

    The model is registered under `name` (default: the run's name) unless `register` is false or `output`
    is given. An existing model is replaced only with `overwrite` or when this run wrote it.
    """
    run_dir = Path(run_dir)
    source = Path(checkpoint) if checkpoint is not None else run_dir / "checkpoints" / LATEST
    if checkpoint is None and not source.is_file():
        kept = checkpoint_files(source.parent)
        raise InputError(f"{source}: missing; " + (
            f"export a kept one with --checkpoint {kept[0]}" if kept else "no checkpoint yet: train first"))
    state = load_checkpoint(source)
    config = config_from_dict(state["config"], where=str(source))
    name = validate_name(name or config.name)
    destination = model_destination(run_dir, name, register=register, output=output)
    if destination.exists() and not overwrite and not _owned_by(destination, run_dir):
        raise OutputError(f"{destination}: a model called {name!r} already exists and was not written by this "
                          "run (pass --overwrite to replace it, or choose another --name)")
    generator_config = config.model.generator_config()
    networks = state["model"]["networks"]
    generators = []
    for role in ("G", "F") if config.mode == "cyclegan" else ("G",):
        net = generator_with_weights(generator_config, networks[role], source=f"{source} ({role})")
        generators.append(net.eval())
    size = state.get("training_size")
    info = ModelInfo(
        name=name, generator=generator_config, source_domain=config.source_name, target_domain=config.target_name,
        has_inverse=len(generators) == 2, training_size=(int(size[0]), int(size[1])) if size else None,
        description=f"{config.mode} {config.source_name} -> {config.target_name}, trained by vidtrans",
        provenance={"training_run": str(run_dir.resolve()), "checkpoint": str(source.resolve()),
                    "mode": config.mode, "step": int(state["step"]), "epoch": int(state["epoch"]),
                    "seed": config.seed, "domain_a": config.data.domain_a, "domain_b": config.data.domain_b,
                    "settings": flat_settings(config),
                    **({"semantic_segmenter": state["semantic_segmenter"]} if "semantic_segmenter" in state else {})},
    )
    return save_model(destination, info, generators[0], generators[1] if len(generators) == 2 else None,
                      overwrite=True)
