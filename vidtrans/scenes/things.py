"""Objects standing in the world: the primitives they are built from and how a seed places them.

The world is cut into chunks of CHUNK metres along Z; each chunk's objects come from their own
seeded generator, so any stretch of road can be built on demand and is always the same. Traffic
is placed the same way in a frame moving with each lane's speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from . import labels as L
from . import palette as P
from .layout import SceneLayout
from .palette import Material, Surface

CHUNK = 40.0
_SLOT = 10.0  # traffic slot length (m); a vehicle never spans two slots
_CHUNK_BIAS = 1 << 24  # keeps chunk indices non-negative for numpy's seed sequences

Outline = tuple[tuple[float, float], ...]
Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class Box:
    """A box standing at `base` (x, bottom y, z), `size` = (width across, height, length along), turned by `yaw`."""

    base: Vec3
    size: Vec3
    yaw: float
    surface: Surface
    top: Surface | None = None  # the top face's surface when it differs


@dataclass(frozen=True)
class Billboard:
    """A flat outline (metres, x right, y up, relative to `anchor`) that always faces the camera."""

    anchor: Vec3
    outline: Outline
    surface: Surface


@dataclass(frozen=True)
class Plate:
    """A flat outline standing upright at `anchor`, its front facing -Z turned by `yaw`."""

    anchor: Vec3
    outline: Outline
    yaw: float
    front: Surface
    back: Surface


Part = Box | Billboard | Plate
Shadow = Literal["none", "contact", "cast"]


@dataclass(frozen=True)
class Thing:
    """An object drawn as a unit: its parts in drawing order, its ground footprint and its shadow."""

    parts: tuple[Part, ...]
    footprint: tuple[float, float, float, float, float]  # x, z, half width, half length, yaw
    shadow: Shadow
    height: float
    landmark: bool = False  # big enough to be drawn farther away than other objects


def _surface(label: int, paint: P.Paint, material: Material) -> Surface:
    return Surface(label=label, paint=paint, material=material)


def _offset(x: float, z: float, yaw: float, across: float, along: float) -> tuple[float, float]:
    """The point `across` m right and `along` m forward of (x, z) in a frame turned by `yaw`."""
    c, s = math.cos(yaw), math.sin(yaw)
    return x + across * c + along * s, z - across * s + along * c


def _polygon(rng: np.random.Generator, rx: float, ry: float, n: int, jitter: float) -> Outline:
    angles = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    r = 1.0 + jitter * rng.uniform(-1.0, 1.0, n)
    return tuple((float(rx * a * math.cos(t)), float(ry * a * math.sin(t))) for a, t in zip(r, angles))


_PERSON: Outline = (
    (-0.07, 1.0), (0.07, 1.0), (0.1, 0.89), (0.13, 0.84), (0.12, 0.52), (0.08, 0.5), (0.075, 0.0),
    (0.015, 0.0), (0.0, 0.45), (-0.015, 0.0), (-0.075, 0.0), (-0.08, 0.5), (-0.12, 0.52), (-0.13, 0.84),
    (-0.1, 0.89),
)


def _vehicle(x: float, z: float, yaw: float, kind: Literal["car", "truck"], paint: P.Paint,
             length: float) -> tuple[Thing, ...]:
    """A car, or a truck as two things (cargo box and cab, sorted apart), at bottom centre (x, z), front towards `yaw`."""
    label = L.CAR if kind == "car" else L.TRUCK
    tyre = _surface(label, P.TYRE, Material.METAL)
    body = _surface(label, paint, Material.CARPAINT)
    width = 1.8 if kind == "car" else 2.4

    def wheels(along: float) -> Box:
        wx, wz = _offset(x, z, yaw, 0.0, along)
        return Box(base=(wx, 0.0, wz), size=(width - 0.06, 0.62, 0.64), yaw=yaw, surface=tyre)

    axle = length / 2 - 0.9
    if kind == "car":
        cx, cz = _offset(x, z, yaw, 0.0, -0.12 * length)
        glass = _surface(label, P.CAR_GLASS, Material.GLASS)
        parts = (wheels(-axle), wheels(axle), Box(base=(x, 0.3, z), size=(width, 0.72, length), yaw=yaw, surface=body),
                 Box(base=(cx, 1.02, cz), size=(width - 0.2, 0.5, 0.5 * length), yaw=yaw, surface=glass, top=body))
        return (Thing(parts=parts, footprint=(x, z, width / 2, length / 2, yaw), shadow="contact", height=1.52),)
    cargo = length - 2.4
    bx, bz = _offset(x, z, yaw, 0.0, -length / 2 + cargo / 2)
    box = Box(base=(bx, 0.9, bz), size=(width, 2.9, cargo), yaw=yaw,
              surface=_surface(label, P.TRUCK_PAINTS[0], Material.CARPAINT))
    fx, fz = _offset(x, z, yaw, 0.0, length / 2 - 1.1)
    cab = Box(base=(fx, 0.4, fz), size=(width, 2.3, 2.2), yaw=yaw, surface=body)
    return (Thing(parts=(wheels(-axle), box), footprint=(bx, bz, width / 2, cargo / 2, yaw), shadow="contact", height=3.8),
            Thing(parts=(wheels(axle), cab), footprint=(fx, fz, width / 2, 1.1, yaw), shadow="contact", height=2.7))


def _building(layout: SceneLayout, rng: np.random.Generator, side: int, z0: float, length: float) -> Thing:
    road, strip = layout.road, layout.side(side)
    depth = float(rng.uniform(8.0, 18.0))
    zc = z0 + length / 2
    across = side * (strip.setback(road, side) + float(rng.uniform(0.0, 2.0)) + depth / 2)
    x = float(road.centre_x(zc)) + across
    yaw = float(road.heading(zc))
    height = float(rng.uniform(*strip.building_height))
    paint = P.BUILDING_PAINTS[int(rng.integers(len(P.BUILDING_PAINTS)))]
    box = Box(base=(x, 0.0, zc), size=(depth, height, length), yaw=yaw,
              surface=_surface(L.BUILDING, paint, Material.FACADE))
    return Thing(parts=(box,), footprint=(x, zc, depth / 2, length / 2, yaw), shadow="cast", height=height,
                 landmark=True)


def _tree(x: float, z: float, rng: np.random.Generator, scale: float) -> Thing:
    trunk_h = float(rng.uniform(1.8, 3.2)) * scale
    r = float(rng.uniform(1.4, 3.0)) * scale
    paint = P.FOLIAGE_PAINTS[int(rng.integers(len(P.FOLIAGE_PAINTS)))]
    trunk = Box(base=(x, 0.0, z), size=(0.3, trunk_h + r * 0.5, 0.3), yaw=0.0,
                surface=_surface(L.VEGETATION, P.BARK, Material.BARK))
    crown = Billboard(anchor=(x, trunk_h + r * 0.75, z), outline=_polygon(rng, r, r * float(rng.uniform(0.9, 1.3)), 14, 0.12),
                      surface=_surface(L.VEGETATION, paint, Material.FOLIAGE))
    return Thing(parts=(trunk, crown), footprint=(x, z, r * 0.7, r * 0.7, 0.0), shadow="none", height=trunk_h + 2 * r)


def _person(x: float, z: float, rng: np.random.Generator) -> Thing:
    h = float(rng.uniform(1.55, 1.9))
    paint = P.CLOTH_PAINTS[int(rng.integers(len(P.CLOTH_PAINTS)))]
    outline = tuple((px * h, py * h) for px, py in _PERSON)
    part = Billboard(anchor=(x, 0.0, z), outline=outline, surface=_surface(L.PERSON, paint, Material.CLOTH))
    return Thing(parts=(part,), footprint=(x, z, 0.25, 0.25, 0.0), shadow="contact", height=h)


def _pole_thing(x: float, z: float, yaw: float, height: float, extra: tuple[Part, ...]) -> Thing:
    pole = Box(base=(x, 0.0, z), size=(0.14, height, 0.14), yaw=yaw, surface=_surface(L.POLE, P.METAL, Material.METAL))
    return Thing(parts=(pole, *extra), footprint=(x, z, 0.3, 0.3, yaw), shadow="none", height=height)


def _lamp(x: float, z: float, yaw: float) -> Thing:
    head = Box(base=(x, 7.0, z), size=(0.35, 0.22, 0.7), yaw=yaw, surface=_surface(L.POLE, P.LAMP_HEAD, Material.METAL))
    return _pole_thing(x, z, yaw, 7.0, (head,))


def _sign(x: float, z: float, yaw: float, rng: np.random.Generator) -> Thing:
    shape = int(rng.integers(3))
    outline: Outline
    if shape == 0:
        outline = _polygon(rng, 0.35, 0.35, 16, 0.0)
    elif shape == 1:
        outline = ((-0.4, -0.3), (0.4, -0.3), (0.0, 0.4))
    else:
        outline = ((-0.32, -0.32), (0.32, -0.32), (0.32, 0.32), (-0.32, 0.32))
    paint = P.SIGN_PAINTS[int(rng.integers(len(P.SIGN_PAINTS)))]
    plate = Plate(anchor=(x, 2.75, z - 0.1), outline=outline, yaw=yaw,
                  front=_surface(L.TRAFFIC_SIGN, paint, Material.METAL),
                  back=_surface(L.TRAFFIC_SIGN, P.SIGN_BACK, Material.METAL))
    return _pole_thing(x, z, yaw, 2.5, (plate,))


def _signal(x: float, z: float, yaw: float, rng: np.random.Generator) -> Thing:
    label = L.TRAFFIC_LIGHT
    housing = Box(base=(x, 3.6, z), size=(0.36, 1.0, 0.3), yaw=yaw,
                  surface=_surface(label, P.SIGNAL_HOUSING, Material.METAL))
    lit = int(rng.integers(3))
    lamp = P.Paint(game=((255, 40, 40), (255, 190, 0), (40, 255, 90))[lit], real=((230, 90, 70), (230, 180, 80), (120, 230, 150))[lit])
    disc = Plate(anchor=(x, 4.43 - 0.3 * lit, z - 0.16), outline=_polygon(rng, 0.12, 0.12, 10, 0.0), yaw=yaw,
                 front=_surface(label, lamp, Material.METAL), back=_surface(label, P.SIGNAL_HOUSING, Material.METAL))
    return _pole_thing(x, z, yaw, 3.6, (housing, disc))


def _hedge(layout: SceneLayout, side: int, z0: float, length: float, rng: np.random.Generator) -> Thing:
    road, strip = layout.road, layout.side(side)
    zc = z0 + length / 2
    across = side * (strip.kerb(road, side) + strip.verge + strip.sidewalk + 0.5)
    x, yaw = float(road.centre_x(zc)) + across, float(road.heading(zc))
    paint = P.FOLIAGE_PAINTS[int(rng.integers(len(P.FOLIAGE_PAINTS)))]
    box = Box(base=(x, 0.0, zc), size=(0.8, float(rng.uniform(0.9, 1.5)), length), yaw=yaw,
              surface=_surface(L.VEGETATION, paint, Material.FOLIAGE))
    return Thing(parts=(box,), footprint=(x, zc, 0.4, length / 2, yaw), shadow="contact", height=1.2)


def _roadside_things(layout: SceneLayout, side: int, chunk: int, rng: np.random.Generator) -> list[Thing]:
    road, strip = layout.road, layout.side(side)
    start, end = chunk * CHUNK, (chunk + 1) * CHUNK
    kerb = strip.kerb(road, side)
    things: list[Thing] = []

    def at(z: float, across: float) -> tuple[float, float, float]:
        return float(road.centre_x(z)) + side * across, z, float(road.heading(z))

    z = start + float(rng.uniform(0.0, 4.0))
    while strip.building_chance > 0:
        length = float(rng.uniform(8.0, 24.0))
        if z + length > end:
            break
        if rng.random() < strip.building_chance:
            things.append(_building(layout, rng, side, z, length))
        z += length + (0.0 if rng.random() < 0.5 else float(rng.uniform(1.0, 6.0)))
    if rng.random() < strip.hedge_chance:
        length = float(rng.uniform(4.0, 14.0))
        things.append(_hedge(layout, side, start + float(rng.uniform(0.0, CHUNK - length)), length, rng))
    if strip.tree_spacing > 0:
        tree_across = kerb + (strip.verge / 2 if strip.verge >= 1.5 else strip.verge + strip.sidewalk + 0.6)
        for tz in np.sort(rng.uniform(start, end, rng.poisson(CHUNK / strip.tree_spacing))):
            x, zz, _ = at(float(tz), tree_across + float(rng.uniform(-0.2, 0.2)))
            things.append(_tree(x, zz, rng, layout.content.tree_scale))
    pole_across = kerb + strip.verge + 0.4
    if rng.random() < 0.8:
        things.append(_lamp(*at(start + float(rng.uniform(0.0, CHUNK)), pole_across)))
    if rng.random() < 0.5:
        x, zz, yaw = at(start + float(rng.uniform(0.0, CHUNK)), pole_across)
        facing_camera = side > 0 or rng.random() < 0.5
        things.append(_sign(x, zz, yaw if facing_camera else yaw + math.pi, rng))
    if side > 0 and rng.random() < 0.15:
        x, zz, yaw = at(start + float(rng.uniform(0.0, CHUNK)), pole_across)
        things.append(_signal(x, zz, yaw, rng))
    for pz in rng.uniform(start, end, rng.poisson(strip.people_per_100m * CHUNK / 100.0)):
        across = kerb + strip.verge + float(rng.uniform(0.5, max(strip.sidewalk - 0.5, 0.6)))
        x, zz, _ = at(float(pz), across)
        things.append(_person(x, zz, rng))
    if strip.parking > 0:
        for slot in np.arange(start, end - 6.0, 6.5):
            if rng.random() < layout.content.parking_fill:
                x, zz, yaw = at(float(slot) + 3.25, kerb - strip.parking / 2)
                paints = layout.content.car_paints
                paint = paints[int(rng.integers(len(paints)))]
                things.extend(_vehicle(x, zz, yaw if side > 0 else yaw + math.pi, "car", paint,
                                       float(rng.uniform(4.0, 4.8))))
    return things


@lru_cache(maxsize=512)
def _static_chunk(layout: SceneLayout, chunk: int) -> tuple[Thing, ...]:
    rng = np.random.default_rng([layout.seed, 1, chunk + _CHUNK_BIAS])
    return tuple(_roadside_things(layout, -1, chunk, rng) + _roadside_things(layout, 1, chunk, rng))


@dataclass(frozen=True)
class _Vehicle:
    along: float  # position in the lane's moving frame (m)
    kind: Literal["car", "truck"]
    paint: P.Paint
    length: float


@lru_cache(maxsize=512)
def _traffic_chunk(layout: SceneLayout, lane: int, chunk: int) -> tuple[_Vehicle, ...]:
    rng = np.random.default_rng([layout.seed, 2, lane, chunk + _CHUNK_BIAS])
    vehicles = []
    for slot in np.arange(chunk * CHUNK, (chunk + 1) * CHUNK, _SLOT):
        fill, truck = rng.random(), rng.random() < 0.12
        length = float(rng.uniform(6.5, 8.5) if truck else rng.uniform(4.0, 4.8))
        along = float(slot) + 0.5 + length / 2 + float(rng.uniform(0.0, _SLOT - 1.0 - length))
        paints = P.TRUCK_PAINTS if truck else layout.content.car_paints
        paint = paints[int(rng.integers(len(paints)))]
        # The camera's own lane moves with the camera: keep the space around it free.
        if lane == layout.camera_lane and along + length / 2 > -8.0 and along - length / 2 < 14.0:
            continue
        if fill < layout.traffic_chance:
            vehicles.append(_Vehicle(along=along, kind="truck" if truck else "car", paint=paint, length=length))
    return tuple(vehicles)


def _chunks(z_lo: float, z_hi: float) -> range:
    return range(math.floor(z_lo / CHUNK), math.floor(z_hi / CHUNK) + 1)


def things_between(layout: SceneLayout, z_lo: float, z_hi: float, time: float) -> list[Thing]:
    """All objects whose position lies roughly in [z_lo, z_hi] at `time` seconds (traffic moves)."""
    things = [t for c in _chunks(z_lo, z_hi) for t in _static_chunk(layout, c)]
    road = layout.road
    for lane, (across, speed) in enumerate(zip(road.lane_offsets(), layout.lane_speeds)):
        shift = speed * time
        for chunk in _chunks(z_lo - shift, z_hi - shift):
            for v in _traffic_chunk(layout, lane, chunk):
                z = v.along + shift
                yaw = float(road.heading(z)) + (math.pi if speed < 0 else 0.0)
                things.extend(_vehicle(float(road.centre_x(z)) + across, z, yaw, v.kind, v.paint, v.length))
    return things
