"""Per-seed scene parameters: the road, both roadsides, the traffic lanes and the time of day.

World coordinates are metres: X to the right, Y up, Z forward along the road. The road's centre
line is x = centre_x(z); a lateral offset is measured along X from it (positive = right).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .content import Content, content_named, urban_chance
from .palette import HOOD_PAINTS, RGB, Paint


@dataclass(frozen=True)
class Road:
    """A gently curving road: a sum of sinusoidal bends and a lane layout around the centre line."""

    bends: tuple[tuple[float, float, float], ...]  # (amplitude m, wavelength m, phase rad)
    lane_width: float
    lanes_oncoming: int  # left of the centre line
    lanes_ahead: int  # right of the centre line, in the camera's direction

    def centre_x(self, z: np.ndarray) -> np.ndarray:
        """X of the centre line at each Z."""
        z = np.asarray(z, dtype=np.float64)
        return sum((a * np.sin(2 * np.pi * z / w + p) for a, w, p in self.bends), np.zeros_like(z))

    def heading(self, z: np.ndarray) -> np.ndarray:
        """Angle (radians) of the road direction from +Z towards +X at each Z."""
        z = np.asarray(z, dtype=np.float64)
        slope = sum((a * 2 * np.pi / w * np.cos(2 * np.pi * z / w + p) for a, w, p in self.bends), np.zeros_like(z))
        return np.arctan(slope)

    def lane_offsets(self) -> tuple[float, ...]:
        """Lateral offsets of all lane centres, oncoming lanes first."""
        on = [-(i + 0.5) * self.lane_width for i in range(self.lanes_oncoming)]
        ahead = [(i + 0.5) * self.lane_width for i in range(self.lanes_ahead)]
        return tuple(on + ahead)


@dataclass(frozen=True)
class Roadside:
    """Widths (m) of the strips on one side of the road, from the kerb outwards, and what stands there."""

    parking: float  # parking strip on the carriageway (labelled road), 0 = none
    verge: float  # grass strip between kerb and sidewalk
    sidewalk: float
    frontage: float  # grass in front of the buildings
    frontage_paved: bool  # frontage is a plaza (sidewalk) instead of grass
    building_chance: float  # probability that a building slot is filled
    building_height: tuple[float, float]
    tree_spacing: float  # mean metres between trees, 0 = no trees
    hedge_chance: float
    people_per_100m: float

    def kerb(self, road: Road, side: int) -> float:
        """Distance from the centre line to the kerb on this side (side -1 = left, +1 = right)."""
        lanes = road.lanes_oncoming if side < 0 else road.lanes_ahead
        return lanes * road.lane_width + self.parking

    def setback(self, road: Road, side: int) -> float:
        """Distance from the centre line to where buildings start."""
        return self.kerb(road, side) + self.verge + self.sidewalk + self.frontage


@dataclass(frozen=True)
class Daylight:
    """Time of day: sun direction and the sky/sun colours of both styles."""

    sun_elevation: float  # radians above the horizon
    sun_azimuth: float  # radians from the road direction (+Z) towards +X
    sky_game: RGB
    sky_real_horizon: RGB
    sky_real_zenith: RGB
    sun_real: tuple[float, float, float]  # RGB multiplier of direct light in the real style

    def sun_direction(self) -> np.ndarray:
        """Unit vector towards the sun, world coordinates."""
        ce = math.cos(self.sun_elevation)
        return np.array([ce * math.sin(self.sun_azimuth), math.sin(self.sun_elevation), ce * math.cos(self.sun_azimuth)])


@dataclass(frozen=True)
class Hood:
    """The ego vehicle's hood across the bottom of the frame (fractions of the frame height).

    Its top edge is highest at the centre (`height` of the frame above the bottom) and falls towards the
    sides by `droop` of that; an emblem of radius `emblem` sits on it at the centre.
    """

    height: float
    droop: float
    emblem: float
    paint: Paint
    emblem_paint: Paint


@dataclass(frozen=True)
class SceneLayout:
    """Everything that a seed decides about a scene, except the individual objects."""

    seed: int
    road: Road
    left: Roadside
    right: Roadside
    daylight: Daylight
    camera_lane: int  # index into road.lane_offsets()
    camera_height: float
    camera_speed: float  # m/s along +Z
    lane_speeds: tuple[float, ...]  # m/s along +Z, per lane as in road.lane_offsets()
    traffic_chance: float  # probability that a traffic slot holds a vehicle
    content: Content
    hood: Hood | None  # None: no ego vehicle in view

    def side(self, side: int) -> Roadside:
        """The roadside for side -1 (left) or +1 (right)."""
        return self.left if side < 0 else self.right


def _lerp(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))  # type: ignore[return-value]


def _roadside(rng: np.random.Generator, urban: float, content: Content) -> Roadside:
    built = rng.random() < urban_chance(content.built, urban)
    low, high = 6.0 + 8.0 * urban * rng.random(), 12.0 + 22.0 * urban * rng.random()
    scale = content.building_height_scale
    return Roadside(
        parking=2.3 if rng.random() < urban_chance(content.parking, urban) else 0.0,
        verge=float(rng.choice(content.verges)),
        sidewalk=float(rng.uniform(*content.sidewalk)),
        frontage=float(rng.uniform(*content.frontage_built)) if built else float(rng.uniform(4.0, 12.0)),
        frontage_paved=bool(built and rng.random() < urban),
        building_chance=float(rng.uniform(*content.building_fill)) if built else 0.0,
        building_height=(low * scale, max(high, low + 3.0) * scale),
        tree_spacing=(float(rng.uniform(*content.tree_spacing)) if rng.random() < urban_chance(content.trees, urban)
                      else 0.0),
        hedge_chance=float(rng.uniform(0.0, 0.6)),
        people_per_100m=float(rng.uniform(0.0, 6.0) * urban),
    )


def _daylight(rng: np.random.Generator) -> Daylight:
    evening = float(rng.random())  # 0 = midday, 1 = late afternoon
    return Daylight(
        sun_elevation=math.radians(62.0 - 42.0 * evening),
        sun_azimuth=float(rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 2.6)),
        sky_game=_lerp((70, 160, 255), (150, 150, 255), evening),
        sky_real_horizon=_lerp((196, 210, 222), (226, 204, 176), evening),
        sky_real_zenith=_lerp((104, 146, 196), (112, 132, 178), evening),
        sun_real=(1.0 + 0.1 * evening, 1.0 - 0.02 * evening, 0.98 - 0.16 * evening),
    )


def _hood(seed: int) -> Hood:
    rng = np.random.default_rng([seed, 4])  # its own stream: the rest of the layout is the same with or without
    height, droop, emblem = rng.uniform(0.09, 0.14), rng.uniform(0.25, 0.55), rng.uniform(0.025, 0.035)
    paint, emblem_paint = HOOD_PAINTS[int(rng.integers(len(HOOD_PAINTS)))]
    return Hood(height=float(height), droop=float(droop), emblem=float(emblem), paint=paint, emblem_paint=emblem_paint)


@lru_cache(maxsize=64)
def scene_layout(seed: int, content: str = "game", *, hood: bool = True) -> SceneLayout:
    """The layout of scene `seed` with `content` (cached: layouts are immutable).

    `hood=False` leaves out the ego vehicle's hood of a content that has one (paired datasets do).
    """
    kind = content_named(content)
    rng = np.random.default_rng([seed, 0])
    bends = tuple(
        (float(rng.uniform(0.0, 1.0) * a), float(rng.uniform(w / 2, w)), float(rng.uniform(0.0, 2 * np.pi)))
        for a, w in ((6.0, 700.0), (1.2, 300.0))
    )
    lanes = int(rng.integers(*kind.lanes))
    road = Road(bends=bends, lane_width=float(rng.uniform(*kind.lane_width)), lanes_oncoming=lanes // 2,
                lanes_ahead=lanes - lanes // 2)
    low, high = kind.urban
    urban = low + (high - low) * float(rng.random())
    camera_speed = float(rng.uniform(10.0, 15.0))
    camera_lane = road.lanes_oncoming + int(rng.integers(0, road.lanes_ahead))
    speeds = tuple(
        -float(rng.uniform(8.0, 15.0)) if i < road.lanes_oncoming
        else camera_speed if i == camera_lane else camera_speed * float(rng.uniform(0.6, 1.4))
        for i in range(lanes)
    )
    return SceneLayout(
        seed=seed,
        road=road,
        left=_roadside(rng, urban, kind),
        right=_roadside(rng, urban, kind),
        daylight=_daylight(rng),
        camera_lane=camera_lane,
        camera_height=float(rng.uniform(1.35, 1.65)),
        camera_speed=camera_speed,
        lane_speeds=speeds,
        traffic_chance=float(rng.uniform(0.2, 0.7)),
        content=kind,
        hood=_hood(seed) if kind.hood and hood else None,
    )
