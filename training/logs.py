"""What a run reports: TensorBoard scalars and image grids, and sample PNGs (rank 0 only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vidtrans.images import write_image
from vidtrans.training.data import to_image


def image_grid(rows: list[list[torch.Tensor]], *, gap: int = 2) -> np.ndarray:
    """Tile rows of (3, H, W) images in [-1, 1] into one RGB uint8 image with white gaps."""
    images = [[to_image(t) for t in row] for row in rows]
    height = max(im.shape[0] for row in images for im in row)
    width = max(im.shape[1] for row in images for im in row)
    columns = max(len(row) for row in images)
    grid = np.full((len(images) * (height + gap) - gap, columns * (width + gap) - gap, 3), 255, np.uint8)
    for r, row in enumerate(images):
        for c, im in enumerate(row):
            y, x = r * (height + gap), c * (width + gap)
            grid[y:y + im.shape[0], x:x + im.shape[1]] = im
    return grid


class RunLog:
    """TensorBoard events under `runs/NAME/tensorboard` and sample grids under `runs/NAME/samples`."""

    def __init__(self, run_dir: Path, *, resume_step: int | None = None) -> None:
        """`resume_step`: drop events from that step on, logged before a kill and about to be logged again."""
        from torch.utils.tensorboard import SummaryWriter

        self.samples = run_dir / "samples"
        self.samples.mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"), flush_secs=30, purge_step=resume_step)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.writer.add_scalar(name, value, step)

    def images(self, step: int, rows: list[list[torch.Tensor]]) -> Path:
        """Log the grid to TensorBoard and write it as `samples/step_NNNNNNN.png`; returns the PNG's path."""
        grid = image_grid(rows)
        self.writer.add_image("visuals", grid, step, dataformats="HWC")
        path = self.samples / f"step_{step:07d}.png"
        write_image(path, grid)
        return path

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
