"""Paired colours: each paint has a saturated game colour and the muted real colour it maps to.

Pairing the palettes one-to-one keeps the game->real colour change predictable from the game image.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

RGB = tuple[int, int, int]


class Material(IntEnum):
    """How the real style textures a surface (the game style ignores it, except for facade windows)."""

    SKY = 0
    ASPHALT = 1
    MARKING = 2
    PAVEMENT = 3
    GRASS = 4
    FACADE = 5
    FOLIAGE = 6
    BARK = 7
    METAL = 8
    CARPAINT = 9
    GLASS = 10
    CLOTH = 11


GROUND_MATERIALS = (Material.ASPHALT, Material.MARKING, Material.PAVEMENT, Material.GRASS)


@dataclass(frozen=True)
class Paint:
    """A surface colour in both styles."""

    game: RGB
    real: RGB


@dataclass(frozen=True)
class Surface:
    """What a drawn polygon is: its label, its paint and its material."""

    label: int
    paint: Paint
    material: Material


ASPHALT = Paint(game=(88, 88, 104), real=(92, 90, 88))
MARKING_WHITE = Paint(game=(255, 255, 255), real=(196, 194, 186))
MARKING_YELLOW = Paint(game=(255, 214, 0), real=(192, 164, 74))
PAVEMENT = Paint(game=(206, 180, 214), real=(150, 144, 136))
GRASS = Paint(game=(84, 214, 64), real=(104, 112, 64))
FAR_GRASS = Paint(game=(64, 180, 56), real=(96, 104, 66))
BARK = Paint(game=(140, 84, 36), real=(74, 60, 46))
METAL = Paint(game=(170, 170, 184), real=(112, 112, 110))
LAMP_HEAD = Paint(game=(250, 250, 210), real=(180, 178, 160))
SIGN_BACK = Paint(game=(150, 150, 160), real=(104, 104, 104))
SIGNAL_HOUSING = Paint(game=(44, 44, 44), real=(34, 34, 32))
CAR_GLASS = Paint(game=(40, 70, 110), real=(38, 42, 48))
TYRE = Paint(game=(24, 24, 24), real=(28, 28, 28))
WINDOW = Paint(game=(130, 200, 250), real=(74, 88, 102))

CAR_PAINTS = (
    Paint(game=(230, 30, 36), real=(132, 36, 34)),
    Paint(game=(30, 80, 235), real=(44, 58, 98)),
    Paint(game=(250, 204, 24), real=(186, 156, 70)),
    Paint(game=(245, 245, 245), real=(206, 204, 198)),
    Paint(game=(34, 34, 40), real=(30, 30, 32)),
    Paint(game=(30, 180, 70), real=(56, 84, 60)),
    Paint(game=(170, 170, 190), real=(140, 140, 142)),
    Paint(game=(250, 120, 20), real=(164, 92, 48)),
)
# The real content's cars: mostly grey, silver, black and white, a few dark colours (Cityscapes' streets).
REAL_CONTENT_CAR_PAINTS = (
    Paint(game=(200, 200, 214), real=(150, 150, 152)),
    Paint(game=(120, 120, 130), real=(92, 92, 94)),
    Paint(game=(30, 30, 34), real=(28, 28, 30)),
    Paint(game=(250, 250, 250), real=(210, 210, 206)),
    Paint(game=(20, 40, 150), real=(40, 46, 72)),
    Paint(game=(150, 20, 30), real=(100, 36, 36)),
    Paint(game=(215, 200, 160), real=(160, 150, 124)),
)
# The ego vehicle's hood and its emblem (chrome on dark paint, dark on light paint).
_CHROME = Paint(game=(235, 235, 245), real=(176, 178, 182))
_DARK_METAL = Paint(game=(50, 50, 60), real=(52, 54, 58))
HOOD_PAINTS = (
    (Paint(game=(36, 36, 44), real=(30, 31, 34)), _CHROME),
    (Paint(game=(190, 190, 204), real=(128, 130, 134)), _DARK_METAL),
    (Paint(game=(240, 240, 240), real=(196, 196, 194)), _DARK_METAL),
)
TRUCK_PAINTS = (
    Paint(game=(250, 250, 250), real=(196, 196, 190)),
    Paint(game=(40, 120, 230), real=(60, 80, 110)),
    Paint(game=(230, 60, 40), real=(140, 56, 44)),
)
BUILDING_PAINTS = (
    Paint(game=(244, 206, 120), real=(158, 134, 104)),
    Paint(game=(214, 92, 70), real=(128, 70, 56)),
    Paint(game=(176, 176, 200), real=(118, 118, 122)),
    Paint(game=(240, 240, 222), real=(172, 166, 152)),
    Paint(game=(110, 176, 210), real=(92, 104, 112)),
    Paint(game=(220, 150, 200), real=(150, 124, 124)),
)
FOLIAGE_PAINTS = (
    Paint(game=(24, 168, 44), real=(58, 78, 38)),
    Paint(game=(70, 200, 80), real=(74, 92, 46)),
    Paint(game=(120, 200, 30), real=(92, 100, 44)),
)
SIGN_PAINTS = (
    Paint(game=(235, 30, 30), real=(150, 46, 42)),
    Paint(game=(30, 90, 235), real=(46, 70, 120)),
    Paint(game=(255, 206, 0), real=(196, 162, 56)),
)
CLOTH_PAINTS = (
    Paint(game=(240, 40, 120), real=(120, 60, 76)),
    Paint(game=(40, 40, 200), real=(46, 50, 80)),
    Paint(game=(250, 160, 30), real=(150, 112, 70)),
    Paint(game=(60, 60, 60), real=(44, 44, 46)),
)
