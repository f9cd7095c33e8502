"""Rendering frames and clips of a seeded scene in the game and real styles."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from .camera import camera_at
from .content import ContentName, content_named
from .draw import draw_scene
from .layout import scene_layout
from .styles import RealStyle, game_style, real_style

Style = Literal["game", "real"]
STYLES: tuple[str, ...] = get_args(Style)
MIN_WIDTH, MIN_HEIGHT = 64, 32
MAX_SIDE = 8192


@dataclass(frozen=True)
class SceneFrame:
    """One rendered frame: the styles asked for (others are None) and its Cityscapes train-ID labels."""

    game: np.ndarray | None  # (H, W, 3) uint8 RGB
    real: np.ndarray | None  # (H, W, 3) uint8 RGB
    labels: np.ndarray  # (H, W) uint8 train IDs, 255 = ignore


def check_size(width: int, height: int) -> None:
    """Raise ValueError unless width x height is a renderable frame size."""
    if not (MIN_WIDTH <= width <= MAX_SIDE and MIN_HEIGHT <= height <= MAX_SIDE):
        raise ValueError(f"frame size must be at least {MIN_WIDTH}x{MIN_HEIGHT} and at most "
                         f"{MAX_SIDE}x{MAX_SIDE}, got {width}x{height}")


def _check(seed: int, width: int, height: int, fps: float, styles: Sequence[str], content: str) -> None:
    content_named(content)
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    check_size(width, height)
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    allowed = ", ".join(STYLES)
    if isinstance(styles, str):
        raise ValueError(f"styles must be a sequence such as ({styles!r},), not a string; allowed styles: {allowed}")
    unknown = [s for s in styles if s not in STYLES]
    if unknown:
        raise ValueError(f"unknown style {', '.join(map(repr, unknown))}; allowed styles: {allowed}")


def _render(seed: int, width: int, height: int, frame_index: int, fps: float, styles: Sequence[str],
            config: RealStyle, content: str, hood: bool) -> SceneFrame:
    layout = scene_layout(seed, content, hood=hood)
    time = frame_index / fps
    raster = draw_scene(layout, camera_at(layout, time, width, height), time)
    real = None
    if "real" in styles:
        rng = np.random.default_rng([seed, frame_index, 3])
        real = real_style(raster, layout.daylight, texture_seed=seed, rng=rng, config=config)
    return SceneFrame(game=game_style(raster) if "game" in styles else None, real=real, labels=raster.labels())


def render_frame(seed: int, *, width: int = 512, height: int = 256, frame_index: int = 0, fps: float = 10.0,
                 styles: Sequence[Style] = ("game", "real"), real_config: RealStyle = RealStyle(),
                 content: ContentName = "game", hood: bool = True) -> SceneFrame:
    """Render frame `frame_index` of scene `seed` (the camera drives forward at the scene's speed).

    `content` "game" or "real" decides what the scene holds (`vidtrans.scenes.content`), `styles` how it
    looks; `hood=False` leaves out the real content's ego-vehicle hood. The same arguments always give
    bit-identical images and labels.
    """
    _check(seed, width, height, fps, styles, content)
    if frame_index < 0:
        raise ValueError(f"frame_index must be >= 0, got {frame_index}")
    return _render(seed, width, height, frame_index, fps, styles, real_config, content, hood)


def render_clip(seed: int, *, frames: int, width: int = 512, height: int = 256, fps: float = 10.0,
                styles: Sequence[Style] = ("game", "real"), content: ContentName = "game",
                hood: bool = True) -> Iterator[SceneFrame]:
    """Frames 0 .. frames-1 of scene `seed`, rendered lazily (`content` and `hood` as in `render_frame`)."""
    _check(seed, width, height, fps, styles, content)
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    return (_render(seed, width, height, i, fps, styles, RealStyle(), content, hood) for i in range(frames))
