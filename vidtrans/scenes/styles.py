"""The two looks of a rasterised frame.

game: each surface flat in its saturated game colour times a per-face sun shade; facade windows
in a flat colour; hard edges, no noise.
real: the muted real colour of the same surface, with world-anchored textures, coloured sunlight,
soft ground shadows, haze, a sky gradient, lens blur, a sun-side brightness gradient, vignetting,
a tone curve with lifted blacks, a warm grade and sensor noise. Everything but the textures and
the noise is a function of what the game image shows, so a generator can learn most of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .layout import Daylight
from .palette import GROUND_MATERIALS, WINDOW, Material
from .raster import Raster, pixel_geometry, shadow_mask
from .textures import noise_texture, sample

_BYTE_PAIR_STD = math.sqrt((256**2 - 1) / 6)  # std of the sum of two uniform random bytes
_WINDOW_PITCH = (3.2, 3.3)  # m between window columns / floors
_WINDOW_OPEN = ((0.27, 0.73), (0.27, 0.8))  # fraction of the pitch that is glass (u, v)

# Per material: texels per metre, fine-grain amplitude, blotch amplitude (fractions of the colour).
_TEXTURE = np.zeros((len(Material), 3), np.float32)
for _m, _row in {
    Material.ASPHALT: (20.0, 0.06, 0.05), Material.MARKING: (20.0, 0.05, 0.06),
    Material.PAVEMENT: (16.0, 0.05, 0.04), Material.GRASS: (12.0, 0.09, 0.09),
    Material.FACADE: (8.0, 0.03, 0.05), Material.FOLIAGE: (6.0, 0.12, 0.1),
    Material.BARK: (10.0, 0.06, 0.04), Material.METAL: (10.0, 0.01, 0.02),
    Material.CLOTH: (10.0, 0.04, 0.03),
}.items():
    _TEXTURE[_m] = _row


@dataclass(frozen=True)
class RealStyle:
    """Strength of the parts of the real style that the game image cannot predict."""

    noise_sigma: float = 3.0  # sensor noise, levels of 255
    texture_strength: float = 1.0  # scales all texture amplitudes


def _windows(u: np.ndarray, v: np.ndarray, extent: np.ndarray) -> np.ndarray:
    """Boolean: which facade points (u, v in m from the face's bottom corner) are window glass."""
    (pu, pv), ((u0, u1), (v0, v1)) = _WINDOW_PITCH, _WINDOW_OPEN
    fu = np.mod(u - np.mod(extent[:, 0], pu) / 2, pu) / pu
    fv = np.mod(v, pv) / pv
    inside = (u > 0.8) & (u < extent[:, 0] - 0.8) & (v > 0.8) & (v < extent[:, 1] - 0.6)
    return inside & (fu > u0) & (fu < u1) & (fv > v0) & (fv < v1)


def game_style(raster: Raster) -> np.ndarray:
    """(H, W, 3) uint8 game-look image."""
    shade = 0.55 + 0.5 * raster.light  # ambient + sun; the sky (surface 0) has light 1: full colour
    shade[0] = 1.0
    colours = np.clip(raster.game * shade[:, None], 0, 255).astype(np.uint8)
    image = colours[raster.ids]
    facade = raster.material[raster.ids] == Material.FACADE
    if facade.any():
        _, u, v, ids = pixel_geometry(raster, facade)
        glass = _windows(u, v, raster.extent[ids])
        window = np.clip(np.array(WINDOW.game, np.float32) * shade[ids[glass], None], 0, 255).astype(np.uint8)
        pixels = image[facade]
        pixels[glass] = window
        image[facade] = pixels
    return image


@lru_cache(maxsize=4)
def _sky(width: int, height: int, focal: float, cx: float, cy: float, daylight: Daylight, seed: int) -> np.ndarray:
    """(H, W, 3) float32 real sky (0..1): horizon-to-zenith gradient with faint clouds."""
    rows = (np.arange(height, dtype=np.float32) + 0.5 - cy) / focal  # ray y (down)
    up = np.clip(-rows, 0.0, None)
    t = (np.clip(up / 0.45, 0.0, 1.0) ** 0.6)[:, None, None]
    horizon = np.array(daylight.sky_real_horizon, np.float32) / 255
    zenith = np.array(daylight.sky_real_zenith, np.float32) / 255
    gradient = horizon + (zenith - horizon) * t
    cols = (np.arange(width, dtype=np.float32) + 0.5 - cx) / focal
    reach = 30.0 / (up + 0.08)[:, None]
    clouds = sample(noise_texture(seed), cols[None, :] * reach, np.broadcast_to(reach, (height, width)))
    sky = gradient * (1.0 + 0.05 * clouds[..., 1:2])
    sky.flags.writeable = False
    return sky


# The grade after the tone curve: desaturate to 78 %, warm tint, lift the blacks; one affine map,
# scaled to 0..255 and offset by 0.5 so that truncating to uint8 rounds.
_DESATURATE = 0.78 * np.eye(3) + 0.22 * np.array([[0.299, 0.587, 0.114]] * 3)
_GRADE = np.hstack([255.0 * 0.92 * np.diag([1.03, 1.0, 0.94]) @ _DESATURATE,
                    np.full((3, 1), 255.0 * 0.05 + 0.5)]).astype(np.float32)


def _tone(image: np.ndarray) -> np.ndarray:
    """Contrast S-curve then the grade; (H, W, 3) float32 0..1 in, 0..255 (+0.5) out."""
    x = np.clip(image, 0.0, 1.0, out=image)
    curve = x * x
    curve *= 1.2 - 0.8 * x
    x *= 0.6
    x += curve  # 0.6 x + 0.4 x^2 (3 - 2 x)
    return cv2.transform(x, _GRADE)


def real_style(raster: Raster, daylight: Daylight, *, texture_seed: int, rng: np.random.Generator,
               config: RealStyle = RealStyle()) -> np.ndarray:
    """(H, W, 3) uint8 real-look image; `rng` draws the sensor noise."""
    cam = raster.camera
    h, w = cam.height, cam.width
    scale = w / 512.0
    depth, u, v, ids = pixel_geometry(raster)
    material = raster.material[ids]

    # World-anchored texture, fading with distance (where it would only alias).
    density, fine, blotch = (np.take(column, ids) for column in _TEXTURE[raster.material].T)
    grain = sample(noise_texture(texture_seed), (u * density).reshape(h, w), (v * density).reshape(h, w))
    factor = fine * grain[..., 0].reshape(-1)
    factor += blotch * grain[..., 1].reshape(-1)
    fade = depth * np.float32(1 / 25)
    fade += 1.0
    factor *= config.texture_strength / fade
    factor += 1.0

    sheen = (material == Material.CARPAINT) | (material == Material.GLASS)
    span = np.maximum(raster.extent[ids[sheen], 1], 0.1)
    factor[sheen] *= 0.9 + 0.2 * np.clip(v[sheen] / span, 0.0, 1.0)
    ground = np.isin(material, GROUND_MATERIALS)
    factor[ground] *= 1.0 - shadow_mask(raster, 2.0 * scale).reshape(-1)[ground]

    sun = np.array(daylight.sun_real, np.float32)
    lit = raster.real / 255.0 * (0.5 + 0.6 * raster.light[:, None] * sun)  # per surface
    colour = lit[ids]
    facade = np.flatnonzero(material == Material.FACADE)
    glass = facade[_windows(u[facade], v[facade], raster.extent[ids[facade]])]
    height_in_window = np.mod(v[glass], _WINDOW_PITCH[1]) / _WINDOW_PITCH[1]
    colour[glass] = (np.array(WINDOW.real, np.float32) / 255) * (0.8 + 0.5 * height_in_window[:, None])

    # Haze: blend towards the horizon colour with distance.
    clear = np.exp(depth * np.float32(-1 / 350))
    clear *= 0.7
    clear += 0.3
    colour *= (factor * clear)[:, None]
    colour += np.array(daylight.sky_real_horizon, np.float32) / 255 * (1.0 - clear)[:, None]
    image = colour.reshape(h, w, 3)
    sky = _sky(w, h, cam.focal, cam.cx, cam.cy, daylight, texture_seed)
    np.copyto(image, sky, where=(raster.ids == 0)[..., None])

    image = cv2.GaussianBlur(image, (0, 0), 0.7 * scale)
    image *= _lens(w, h, cam.cx, float(np.sign(np.sin(daylight.sun_azimuth))))
    image = _tone(image)
    if config.noise_sigma > 0:
        image += _sensor_noise(rng, image.shape, config.noise_sigma)
    np.clip(image, 0.0, 255.0, out=image)
    return image.astype(np.uint8)


def _sensor_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Zero-mean triangular noise with standard deviation `sigma` (the sum of two random bytes: cheap to draw)."""
    n = int(np.prod(shape))
    pairs = np.frombuffer(rng.bytes(2 * n), np.uint8).reshape(2, *shape)
    return (pairs[0].astype(np.float32) + pairs[1] - 255.0) * np.float32(sigma / _BYTE_PAIR_STD)


@lru_cache(maxsize=8)
def _lens(width: int, height: int, cx: float, sun_side: float) -> np.ndarray:
    """(H, W, 1) brightness factor: vignetting times a gentle gradient brighter towards the sun."""
    x = (np.arange(width, dtype=np.float32) + 0.5 - cx) / (width / 2)
    y = (np.arange(height, dtype=np.float32) + 0.5 - height / 2) / (height / 2)
    r2 = (x[None, :] ** 2 + y[:, None] ** 2) / 2
    lens = ((1.0 - 0.35 * r2) * (1.0 + 0.07 * sun_side * x[None, :]))[..., None]
    lens.flags.writeable = False
    return lens
