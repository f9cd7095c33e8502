"""Building network modules from their configs."""

from __future__ import annotations

import torch.nn as nn

from vidtrans.networks.config import (
    DiscriminatorConfig,
    GeneratorConfig,
    PatchDiscriminatorConfig,
    PixelDiscriminatorConfig,
    ResnetGeneratorConfig,
    UnetGeneratorConfig,
)
from vidtrans.networks.discriminators import PatchDiscriminator, PixelDiscriminator
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
