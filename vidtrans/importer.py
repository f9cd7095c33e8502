"""Importing official CycleGAN / pix2pix `.pth` checkpoints into model directories, without unpickling code."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from vidtrans.errors import InputError, ModelError
from vidtrans.fsutil import sha256_file
from vidtrans.modeldir import ModelDirectory, ModelInfo, generator_with_weights, save_model
from vidtrans.networks import GeneratorConfig, generator_config
from vidtrans.networks.config import GeneratorArch, Norm
from vidtrans.registry import user_model_path, validate_name
from vidtrans.safeload import load_weights_only

_STATS = ("running_mean", "running_var", "num_batches_tracked")


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """Read a `.pth` state dict with `torch.load(weights_only=True)`; refuse anything that needs more."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    state = load_weights_only(path, what="PyTorch checkpoint")
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{path}: not a state dict of tensors")
    return {str(k).removeprefix("module."): v for k, v in state.items()}


def _conv_weight(state: Mapping[str, torch.Tensor], key: str, source: Path | str) -> torch.Size:
    """The shape of the convolution weight `key`: (out, in, kh, kw), all at least 1, or a ModelError."""
    shape = state[key].shape
    if len(shape) != 4 or min(shape) < 1:
        raise ModelError(f"{source}: {key} has shape {tuple(shape)}, not that of a convolution weight "
                         "(out, in, height, width)")
    return shape


def infer_generator_config(state: Mapping[str, torch.Tensor], *, arch: GeneratorArch | None = None,
                           norm: Norm | None = None, source: Path | str = "the checkpoint") -> GeneratorConfig:
    """Work out the generator architecture from the checkpoint's keys and shapes, unless `arch`/`norm` say it.

    Problems are ModelErrors naming `source`.
    """
    if "model.1.weight" in state:
        blocks = {int(m.group(1)) for k in state if (m := re.match(r"model\.(\d+)\.conv_block\.", k))}
        inferred_arch = "resnet_9blocks" if len(blocks) == 9 else "resnet_6blocks" if len(blocks) == 6 else None
        first = _conv_weight(state, "model.1.weight", source)
        has_bias = "model.1.bias" in state
        out_channels = _conv_weight(state, "model.26.weight", source)[0] if "model.26.weight" in state else 3
    elif "model.model.0.weight" in state:
        depth = max(k.count("model.") for k in state) - 1
        inferred_arch = {8: "unet_256", 7: "unet_128"}.get(depth)
        first = _conv_weight(state, "model.model.0.weight", source)
        has_bias = "model.model.0.bias" in state
        out_channels = 3
    else:
        raise ModelError(f"{source}: the keys match neither the ResNet nor the U-Net generator layout "
                         f"(first keys: {', '.join(list(state)[:3]) or 'none'})")
    ngf, in_channels = int(first[0]), int(first[1])
    if in_channels != 3 or out_channels not in (1, 3):
        raise ModelError(f"{source}: the generator takes {in_channels} channel(s) and returns {out_channels}; "
                         "vidtrans translates RGB (3 channels in, 3 or 1 out)")
    chosen = arch or inferred_arch
    if chosen is None:
        raise ModelError(f"{source}: cannot tell the architecture from the keys (neither 6 nor 9 residual blocks, "
                         "nor 7 or 8 U-Net levels); pass --arch")
    chosen_norm = norm or ("instance" if has_bias else "batch")
    try:
        return generator_config(chosen, ngf=ngf, norm=chosen_norm, in_channels=in_channels,
                                out_channels=int(out_channels))
    except ValueError as error:
        raise ModelError(f"{source}: {error}") from None


def clean_state_dict(state: Mapping[str, torch.Tensor], config: GeneratorConfig) -> dict[str, torch.Tensor]:
    """Drop stray normalisation statistics that the architecture has no place for (old InstanceNorm files)."""
    if config.norm == "batch":
        return dict(state)
    return {k: v for k, v in state.items() if not k.endswith(_STATS)}


def import_checkpoint(path: Path, *, name: str, arch: GeneratorArch | None = None, norm: Norm | None = None,
                      source_domain: str = "A", target_domain: str = "B", dropout: bool = False,
                      destination: Path | None = None, overwrite: bool = False) -> ModelDirectory:
    """Convert an official generator checkpoint into a model directory (registered under `name` by default)."""
    path = Path(path)
    validate_name(name)
    destination = Path(destination) if destination is not None else user_model_path(name)
    state = read_checkpoint(path)
    config = infer_generator_config(state, arch=arch, norm=norm, source=path)
    if dropout:
        config = dataclasses.replace(config, dropout=True)
    state = clean_state_dict(state, config)
    generator = generator_with_weights(config, state, source=path)
    info = ModelInfo(
        name=name, generator=config, source_domain=source_domain, target_domain=target_domain,
        training_size=(256, 256),
        description=f"imported from {path.name}",
        provenance={"imported_from": path.name, "source_sha256": sha256_file(path)},
    )
    return save_model(destination, info, generator, overwrite=overwrite)
