"""The networks of the CycleGAN and pix2pix papers, each built from a frozen config.

The configs load without torch (the command line reads them to declare its options); the modules, and
the functions that build them, import torch on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

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

_TORCH_MODULES = {
    "PatchDiscriminator": "discriminators", "PixelDiscriminator": "discriminators", "ResnetGenerator": "resnet",
    "UnetGenerator": "unet", "init_weights": "layers", "build_discriminator": "build",
    "build_generator": "build", "count_parameters": "build",
}


def __getattr__(name: str) -> Any:
    if name in _TORCH_MODULES:
        return getattr(importlib.import_module(f"vidtrans.networks.{_TORCH_MODULES[name]}"), name)
    raise AttributeError(f"module 'vidtrans.networks' has no attribute {name!r}")


__all__ = [
    "GENERATOR_ARCHS", "DiscriminatorConfig", "GeneratorConfig", "PatchDiscriminator", "PatchDiscriminatorConfig",
    "PixelDiscriminator", "PixelDiscriminatorConfig", "ResnetGenerator", "ResnetGeneratorConfig", "UnetGenerator",
    "UnetGeneratorConfig", "build_discriminator", "build_generator", "config_from_dict", "config_to_dict",
    "count_parameters", "generator_config", "init_weights",
]
