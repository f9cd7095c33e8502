"""Procedural driving scenes rendered in a game style and a real style, with Cityscapes train-ID labels.

The same seed always gives the same scene; a clip is the camera driving forward through it. A scene's content
is GTA5-like ("game", the default) or Cityscapes-like ("real": an ego-vehicle hood, denser city, less sky).
"""

from .content import CONTENTS, ContentName
from .dataset import SceneDatasetSummary, write_scene_dataset
from .labels import CLASS_NAMES, IGNORE, NUM_CLASSES, colorize_labels
from .render import SceneFrame, Style, render_clip, render_frame
from .styles import RealStyle

__all__ = [
    "CLASS_NAMES",
    "CONTENTS",
    "ContentName",
    "IGNORE",
    "NUM_CLASSES",
    "RealStyle",
    "SceneDatasetSummary",
    "SceneFrame",
    "Style",
    "colorize_labels",
    "render_clip",
    "render_frame",
    "write_scene_dataset",
]
