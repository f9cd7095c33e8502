"""The networks of the CycleGAN and pix2pix papers, each built from a frozen config."""

from __future__ import annotations

import torch.nn as nn

from vidtrans.networks.config import (
    GENERATOR_ARCHS,
    DiscriminatorConfig,
    GeneratorConfig,
    PatchDiscriminatorConfig,
    PixelDiscriminatorConfig,
    ResnetGeneratorConfig,
    UnetGeneratorConfig,
    config_from_dict,
    config_to_dict,
    generator_config,
)
from vidtrans.networks.discriminators import PatchDiscriminator, PixelDiscriminator
from vidtrans.networks.layers import init_weights
from vidtrans.networks.resnet import ResnetGenerator
from vidtrans.networks.unet import UnetGenerator


def build_generator(config: GeneratorConfig) -> nn.Module:
    """The generator module for `config` (weights as PyTorch initialises them; see `init_weights`)."""
    if isinstance(config, ResnetGeneratorConfig):
        return ResnetGenerator(config)
    if isinstance(config, UnetGeneratorConfig):
        return UnetGenerator(config)
    raise TypeError(f"not a generator config: {config!r}")


def build_discriminator(config: DiscriminatorConfig) -> nn.Module:
    """The discriminator module for `config`."""
    if isinstance(config, PatchDiscriminatorConfig):
        return PatchDiscriminator(config)
    if isinstance(config, PixelDiscriminatorConfig):
        return PixelDiscriminator(config)
    raise TypeError(f"not a discriminator config: {config!r}")


def count_parameters(module: nn.Module) -> int:
    """The number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = [
    "GENERATOR_ARCHS", "DiscriminatorConfig", "GeneratorConfig", "PatchDiscriminator", "PatchDiscriminatorConfig",
    "PixelDiscriminator", "PixelDiscriminatorConfig", "ResnetGenerator", "ResnetGeneratorConfig", "UnetGenerator",
    "UnetGeneratorConfig", "build_discriminator", "build_generator", "config_from_dict", "config_to_dict",
    "count_parameters", "generator_config", "init_weights",
]
