"""Rasterising camera-space polygons into a surface-ID map.

Every polygon becomes one surface with its own row in a table (label, paints, material, plane,
texture axes, light). The styles colour pixels by looking their surface up, and the label map is
the same lookup, so the images and the labels always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .camera import Camera, clip_near
from .palette import Surface

_SHIFT = 4  # fractional bits of the pixel coordinates given to cv2.fillPoly
_MAX_SURFACES = 65535


@dataclass(frozen=True)
class Plane:
    """Where a surface lies in camera space and how its texture is laid on it (metres)."""

    normal: np.ndarray  # unit normal; the plane is normal . p = normal . origin
    origin: np.ndarray
    u_axis: np.ndarray
    v_axis: np.ndarray
    extent: tuple[float, float]  # size along u and v (0 = unbounded)


@dataclass(frozen=True)
class Raster:
    """A rasterised frame: surface IDs per pixel, one table row per surface, and ground shadows."""

    ids: np.ndarray  # (H, W) uint16
    label: np.ndarray  # (S,) uint8
    game: np.ndarray  # (S, 3) float32, 0..255
    real: np.ndarray  # (S, 3) float32, 0..255
    material: np.ndarray  # (S,) uint8
    light: np.ndarray  # (S,) float32, cosine between the normal and the sun (>= 0)
    geometry: np.ndarray  # (12, S) float32, camera space: normal (3), offset, u axis (3), origin.u, v axis (3), origin.v
    extent: np.ndarray  # (S, 2) float32
    shadows: tuple[tuple[np.ndarray, float], ...]  # (fillPoly points with _SHIFT bits, darkness)
    camera: Camera

    def labels(self) -> np.ndarray:
        """The (H, W) uint8 train-ID map."""
        return self.label[self.ids]


class Canvas:
    """Collects surfaces and draws them back to front (later polygons cover earlier ones).

    Surface 0 is the background (the sky), which has no plane: it is infinitely far away.
    """

    def __init__(self, camera: Camera, background: Surface) -> None:
        self.camera = camera
        self.ids = np.zeros((camera.height, camera.width), dtype=np.uint16)
        self._rows: list[tuple[Surface, Plane | None, float]] = [(background, None, 1.0)]
        self._shadows: list[tuple[np.ndarray, float]] = []

    def add_surface(self, surface: Surface, plane: Plane | None, light: float) -> int:
        """Register a surface without drawing it; returns its ID."""
        if len(self._rows) >= _MAX_SURFACES:
            raise RuntimeError("scene has too many surfaces to rasterise")
        self._rows.append((surface, plane, light))
        return len(self._rows) - 1

    def to_pixels(self, points: np.ndarray) -> np.ndarray:
        """Camera points (N, 3), all at z >= NEAR, to the fixed-point pixel coordinates fill_pixels takes."""
        xy = self.camera.project(points) * (1 << _SHIFT)
        return np.round(xy - (1 << (_SHIFT - 1))).astype(np.int32)  # pixel centres sit at +0.5

    def _pixels(self, polygon: np.ndarray) -> np.ndarray | None:
        clipped = clip_near(polygon)
        return self.to_pixels(clipped) if len(clipped) >= 3 else None

    def fill(self, polygon: np.ndarray, surface: Surface, plane: Plane, light: float) -> None:
        """Draw a camera-space polygon (N, 3) as a new surface."""
        pixels = self._pixels(polygon)
        if pixels is not None:
            self.fill_pixels(pixels, surface, plane, light)

    def fill_pixels(self, pixels: np.ndarray, surface: Surface, plane: Plane, light: float) -> None:
        """Draw a polygon given by to_pixels() as a new surface."""
        sid = self.add_surface(surface, plane, light)
        cv2.fillPoly(self.ids, [pixels], sid, lineType=cv2.LINE_8, shift=_SHIFT)

    def fill_rows(self, first_row: int, sid: int) -> None:
        """Give all rows from `first_row` down to surface `sid`."""
        self.ids[max(first_row, 0):] = sid

    def shadow(self, polygon: np.ndarray, darkness: float) -> None:
        """Remember a camera-space ground polygon that the real style darkens."""
        pixels = self._pixels(polygon)
        if pixels is not None:
            self._shadows.append((pixels, darkness))

    def finish(self) -> Raster:
        """Freeze the drawing into a Raster."""
        n = len(self._rows)
        geometry = np.zeros((n, 12), np.float32)  # transposed below
        extent = np.zeros((n, 2), np.float32)
        for i, (_, p, _) in enumerate(self._rows):
            if p is not None:
                geometry[i] = (*p.normal, np.dot(p.normal, p.origin), *p.u_axis, np.dot(p.u_axis, p.origin),
                               *p.v_axis, np.dot(p.v_axis, p.origin))
                extent[i] = p.extent
        return Raster(
            ids=self.ids,
            label=np.array([s.label for s, _, _ in self._rows], np.uint8),
            game=np.array([s.paint.game for s, _, _ in self._rows], np.float32),
            real=np.array([s.paint.real for s, _, _ in self._rows], np.float32),
            material=np.array([int(s.material) for s, _, _ in self._rows], np.uint8),
            light=np.array([light for _, _, light in self._rows], np.float32),
            geometry=np.ascontiguousarray(geometry.T),
            extent=extent,
            shadows=tuple(self._shadows),
            camera=self.camera,
        )


def shadow_mask(raster: Raster, blur: float) -> np.ndarray:
    """(H, W) float32 darkness of the ground shadows, softened by a Gaussian of `blur` pixels."""
    mask = np.zeros(raster.ids.shape, np.float32)
    for pixels, darkness in raster.shadows:
        cv2.fillPoly(mask, [pixels], darkness, lineType=cv2.LINE_8, shift=_SHIFT)
    if blur > 0 and raster.shadows:
        mask = cv2.GaussianBlur(mask, (0, 0), blur)
    return mask


def pixel_geometry(raster: Raster, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Depth (m along the view axis) and texture coordinates u, v (m) of the pixels in `mask` (all if None).

    Returns flat float32 arrays (depth, u, v) and the surface IDs of those pixels; the sky gets depth inf.
    """
    cam = raster.camera
    rx, ry = _rays(cam.width, cam.height, cam.focal, cam.cx, cam.cy)
    if mask is None:
        ids, rx, ry = raster.ids.reshape(-1), rx.reshape(-1), ry.reshape(-1)
    else:
        ids, rx, ry = raster.ids[mask], rx[mask], ry[mask]
    g = np.take(raster.geometry, ids.astype(np.intp), axis=1)
    scratch = np.empty_like(rx)

    def dot(k: int) -> np.ndarray:  # (g[k], g[k+1], g[k+2]) . (rx, ry, 1)
        out = g[k] * rx
        out += np.multiply(g[k + 1], ry, out=scratch)
        out += g[k + 2]
        return out

    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.divide(g[3], dot(0))
    depth[(ids == 0) | ~(depth > 0)] = np.inf
    reach = np.minimum(depth, 1e5)
    u = dot(4)
    u *= reach
    u -= g[7]
    v = dot(8)
    v *= reach
    v -= g[11]
    return depth, u, v, ids


@lru_cache(maxsize=8)
def _rays(width: int, height: int, focal: float, cx: float, cy: float) -> tuple[np.ndarray, np.ndarray]:
    """x and y (H, W) of the rays through the pixel centres, for a ray z of 1."""
    xs = (np.arange(width, dtype=np.float32) + 0.5 - cx) / focal
    ys = (np.arange(height, dtype=np.float32) + 0.5 - cy) / focal
    rx, ry = np.meshgrid(xs, ys)
    rx.flags.writeable = ry.flags.writeable = False
    return rx, ry
