"""A segmentation task decided by colour, for tests of the semantic-consistency loss.

Class 0 ("road") is warm (red above blue), class 1 ("sidewalk") cool (blue above red). `colour_segmenter`
(a conftest fixture) is a real vidtrans segmenter trained on such patches at any brightness; the two
training domains differ in look (`GAME` saturated, `REAL` muted) and in content (`scene`'s background class).

Importable from any test (`tests` is on pytest's python path).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidtrans.images import write_image
from vidtrans.segmenter.build import SegmenterTrainOptions, train_segmenter

SIZE = 32
WARM, COOL = 0, 1  # label values: road, sidewalk
Colours = dict[int, tuple[float, float, float]]
GAME: Colours = {WARM: (230, 50, 40), COOL: (40, 50, 230)}  # saturated, flat
REAL: Colours = {WARM: (150, 115, 90), COOL: (90, 115, 150)}  # muted


def scene(rng: np.random.Generator, background: int, colours: Colours) -> tuple[np.ndarray, np.ndarray]:
    """An RGB image (SIZE x SIZE, a little noise) and its labels: a background of one class with a rectangle
    of the other (a fifth to a third of the frame)."""
    labels = np.full((SIZE, SIZE), background, np.uint8)
    width, height = rng.integers(14, 20, 2)
    x, y = rng.integers(0, SIZE - width + 1), rng.integers(0, SIZE - height + 1)
    labels[y:y + height, x:x + width] = 1 - background
    image = np.zeros((SIZE, SIZE, 3), np.float32)
    for value, colour in colours.items():
        image[labels == value] = colour
    image += rng.normal(0, 6, image.shape)
    return np.clip(image, 0, 255).round().astype(np.uint8), labels


def write_gta5(root: Path, scenes: list[tuple[np.ndarray, np.ndarray]], *, labels: bool = True) -> Path:
    """A GTA5-layout dataset at `root`: images/NNN.png, and with `labels` labels/NNN.png."""
    (root / "images").mkdir(parents=True)
    if labels:
        (root / "labels").mkdir()
    for i, (image, label) in enumerate(scenes):
        write_image(root / "images" / f"{i:03d}.png", image)
        if labels:
            write_image(root / "labels" / f"{i:03d}.png", label)
    return root


def train_colour_segmenter(folder: Path) -> Path:
    """Train the colour segmenter (`vidtrans segmenter train`, widths 8 and 16, at SIZE x SIZE) into `folder`."""
    rng = np.random.default_rng(0)
    scenes = []
    for i in range(48):
        warm = rng.uniform([110, 20, 0], [255, 140, 90])  # red above blue, any brightness
        scenes.append(scene(rng, i % 2, {WARM: tuple(warm), COOL: tuple(warm[::-1])}))
    data = write_gta5(folder.parent / f"{folder.name}-data", scenes)
    train_segmenter(data, folder, SegmenterTrainOptions(size=(SIZE, SIZE), steps=300, batch_size=8, lr=0.01,
                                                        widths=(8, 16), device="cpu", progress=False))
    return folder
