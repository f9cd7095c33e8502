"""Rasterising camera-space polygons into a surface-ID map.

Every polygon becomes one surface with its own row in a table (label, paints, material, plane,
texture axes, light). The styles colour pixels by looking their surface up, and the label map is
the same lookup, so the images and the labels always agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .camera import Camera, clip_near
from .palette import Material, Surface

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
    plane: np.ndarray  # (S, 4) float32: normal, offset (camera space)
    texture: np.ndarray  # (S, 3, 3) float32: origin, u axis, v axis (camera space)
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

    def _pixels(self, polygon: np.ndarray) -> np.ndarray | None:
        clipped = clip_near(polygon)
        if len(clipped) < 3:
            return None
        xy = self.camera.project(clipped) * (1 << _SHIFT)
        return np.round(xy - (1 << (_SHIFT - 1))).astype(np.int32)  # pixel centres sit at +0.5

    def fill(self, polygon: np.ndarray, surface: Surface, plane: Plane, light: float) -> None:
        """Draw a camera-space polygon (N, 3) as a new surface."""
        pixels = self._pixels(polygon)
        if pixels is not None:
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
        plane = np.zeros((n, 4), np.float32)
        texture = np.zeros((n, 3, 3), np.float32)
        extent = np.zeros((n, 2), np.float32)
        for i, (_, p, _) in enumerate(self._rows):
            if p is not None:
                plane[i, :3], plane[i, 3] = p.normal, float(np.dot(p.normal, p.origin))
                texture[i] = (p.origin, p.u_axis, p.v_axis)
                extent[i] = p.extent
        return Raster(
            ids=self.ids,
            label=np.array([s.label for s, _, _ in self._rows], np.uint8),
            game=np.array([s.paint.game for s, _, _ in self._rows], np.float32),
            real=np.array([s.paint.real for s, _, _ in self._rows], np.float32),
            material=np.array([int(s.material) for s, _, _ in self._rows], np.uint8),
            light=np.array([light for _, _, light in self._rows], np.float32),
            plane=plane,
            texture=texture,
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
