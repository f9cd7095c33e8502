"""Shared fixtures: a tiny model directory and a maker of real video clips (`media.write_clip`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from colour_classes import train_colour_segmenter
from media import ClipMaker, pattern, write_clip

from vidtrans.modeldir import ModelDirectory, ModelInfo, save_model
from vidtrans.networks import ResnetGeneratorConfig, build_generator, init_weights


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run torch on one CPU thread for the test.

    Tiny test models are all per-operation overhead, and on a busy 2-core machine OpenMP workers
    waiting for each other make them a hundred times slower than one thread.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> ModelDirectory:
    """A ResNet generator with 8 filters and 2 blocks (fast on a CPU), initialised as the reference does."""
    torch.manual_seed(0)
    config = ResnetGeneratorConfig(ngf=8, n_blocks=2)
    folder = tmp_path_factory.mktemp("models") / "tiny"
    return save_model(folder, ModelInfo(name="tiny", generator=config, source_domain="game",
                                        target_domain="real"), init_weights(build_generator(config)))


@pytest.fixture
def frame_pattern() -> Callable[[int, int, int], np.ndarray]:
    """`pattern(index, width, height)`: the picture `make_clip` writes as frame `index`."""
    return pattern


@pytest.fixture
def make_clip(tmp_path: Path) -> ClipMaker:
    """`make_clip(name, **options)` writes a clip (see `write_clip`) into the test's folder; returns its path."""
    def make(name: str = "clip.mp4", **kwargs: object) -> Path:
        return write_clip(tmp_path / name, **kwargs)  # type: ignore[arg-type]
    return make


@pytest.fixture(scope="session")
def colour_segmenter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real vidtrans segmenter that labels warm patches 0 and cool ones 1 (`colour_classes`), at 32x32."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train_colour_segmenter(tmp_path_factory.mktemp("segmenters") / "colour")
    finally:
        torch.set_num_threads(before)
