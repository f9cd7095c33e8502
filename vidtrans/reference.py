"""Randomly initialised reference generators (ResNet-9, U-Net, ...) for speed measurements.

A random generator runs exactly as fast as a trained one of the same architecture, so `bench` and the
benchmarks under `benchmarks/` measure the paper's networks without a trained model (and without PyAV).
"""

from __future__ import annotations

from pathlib import Path

from vidtrans.errors import UsageError
from vidtrans.modeldir import ModelDirectory, ModelInfo, save_model
from vidtrans.networks import build_generator, generator_config, init_weights


def random_model(arch: str, ngf: int, folder: Path) -> ModelDirectory:
    """A model directory with a randomly initialised reference generator (for speed tests only)."""
    try:
        config = generator_config(arch, ngf=ngf)  # type: ignore[arg-type]
    except ValueError as error:
        raise UsageError(f"--arch/--ngf: {error}") from None
    info = ModelInfo(name=f"random-{arch}-ngf{ngf}", generator=config,
                     description="randomly initialised, for benchmarks", provenance={"source": "vidtrans bench"})
    return save_model(folder / info.name, info, init_weights(build_generator(config)), overwrite=True)
