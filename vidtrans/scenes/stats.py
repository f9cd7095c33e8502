"""Class frequencies of rendered scenes: what share of the pixels each label takes, scene by scene."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .content import ContentName
from .render import render_frame


def label_shares(seeds: Iterable[int], *, content: ContentName = "game", width: int = 512, height: int = 256,
                 hood: bool = True) -> np.ndarray:
    """(scenes, 256) float64: row i is the share of scene seeds[i]'s pixels that carry each label value."""
    rows = []
    for seed in seeds:
        labels = render_frame(seed, width=width, height=height, styles=("game",), content=content, hood=hood).labels
        rows.append(np.bincount(labels.reshape(-1), minlength=256) / labels.size)
    return np.array(rows, dtype=np.float64).reshape(-1, 256)
