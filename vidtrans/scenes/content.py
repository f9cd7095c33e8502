"""What a scene holds, as opposed to how it looks: the game content (GTA5-like) and the real content (Cityscapes-like).

The two contents differ the way Cityscapes differs from GTA5: the real content has an ego-vehicle hood with an
emblem across the bottom of every frame (labelled IGNORE, as Cityscapes labels its ego vehicle), denser and
taller buildings and more trees (so less sky), narrower streets with more parked cars, and sober car colours.
Either content can be drawn in either style (`vidtrans.scenes.styles`).

Every knob below maps the same random draws to values, so the game content renders exactly the scenes it
rendered before contents existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from . import palette as P

ContentName = Literal["game", "real"]
CONTENTS: tuple[str, ...] = get_args(ContentName)


@dataclass(frozen=True)
class Content:
    """The distributions a seed's scene is drawn from. (a, b) pairs are probabilities a + b * urbanness."""

    name: ContentName
    lanes: tuple[int, int]  # number of lanes: integers in [low, high)
    lane_width: tuple[float, float]  # m, uniform
    urban: tuple[float, float]  # how built-up a scene is: uniform in [low, high]
    built: tuple[float, float]  # a roadside has buildings
    building_fill: tuple[float, float]  # share of a built roadside's building slots that hold one, uniform
    building_height_scale: float  # multiplies every building height
    frontage_built: tuple[float, float]  # m of frontage in front of buildings, uniform
    verges: tuple[float, float, float]  # m of grass between kerb and sidewalk: one of these, equally likely
    sidewalk: tuple[float, float]  # m, uniform
    parking: tuple[float, float]  # a roadside has a parking strip
    parking_fill: float  # share of parking slots that hold a car
    trees: tuple[float, float]  # a roadside has trees
    tree_spacing: tuple[float, float]  # mean m between trees, uniform
    tree_scale: float  # multiplies every tree's size
    car_paints: tuple[P.Paint, ...]
    hood: bool  # the camera looks over the ego vehicle's hood


GAME = Content(name="game", lanes=(2, 5), lane_width=(3.0, 3.8), urban=(0.0, 1.0), built=(0.35, 0.6),
               building_fill=(0.6, 1.0), building_height_scale=1.0, frontage_built=(0.0, 3.0),
               verges=(0.0, 1.5, 2.5), sidewalk=(1.8, 4.0), parking=(0.1, 0.5), parking_fill=0.55,
               trees=(0.85, -0.4), tree_spacing=(6.0, 18.0), tree_scale=1.0, car_paints=P.CAR_PAINTS,
               hood=False)
REAL = Content(name="real", lanes=(2, 4), lane_width=(2.6, 3.1), urban=(0.45, 1.0), built=(0.75, 0.25),
               building_fill=(0.85, 1.0), building_height_scale=1.7, frontage_built=(0.0, 1.0),
               verges=(0.0, 0.0, 1.5), sidewalk=(3.0, 5.5), parking=(0.4, 0.4), parking_fill=0.5,
               trees=(1.0, -0.2), tree_spacing=(3.5, 8.0), tree_scale=1.35, car_paints=P.REAL_CONTENT_CAR_PAINTS,
               hood=True)
_BY_NAME = {c.name: c for c in (GAME, REAL)}


def content_named(name: str) -> Content:
    """The content called `name`; ValueError listing the allowed names otherwise."""
    if name not in _BY_NAME:
        raise ValueError(f"content must be one of {', '.join(CONTENTS)}; got {name!r}")
    return _BY_NAME[name]


def urban_chance(pair: tuple[float, float], urban: float) -> float:
    """The probability a + b * urban of a (a, b) pair."""
    return pair[0] + pair[1] * urban
