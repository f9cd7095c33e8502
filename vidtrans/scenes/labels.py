"""Cityscapes train IDs used by the scene renderer, and a palette to visualise label maps."""

from __future__ import annotations

import numpy as np

ROAD = 0
SIDEWALK = 1
BUILDING = 2
WALL = 3
FENCE = 4
POLE = 5
TRAFFIC_LIGHT = 6
TRAFFIC_SIGN = 7
VEGETATION = 8
TERRAIN = 9
SKY = 10
PERSON = 11
RIDER = 12
CAR = 13
TRUCK = 14
BUS = 15
TRAIN = 16
MOTORCYCLE = 17
BICYCLE = 18
IGNORE = 255

NUM_CLASSES = 19

CLASS_NAMES: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)

# The official Cityscapes colours, indexed by train ID; IGNORE is drawn black.
_PALETTE = np.zeros((256, 3), dtype=np.uint8)
_PALETTE[:NUM_CLASSES] = [
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32),
]


def colorize_labels(labels: np.ndarray) -> np.ndarray:
    """Map an (H, W) uint8 train-ID map to an (H, W, 3) uint8 RGB image in Cityscapes colours."""
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError(f"labels must be a 2-D uint8 array, got shape {labels.shape} dtype {labels.dtype}")
    return _PALETTE[labels]
