"""The pinhole camera: where it is at a given time, and world -> camera -> pixel transforms.

Camera coordinates: x right, y down, z forward (metres). The camera looks along the road's
direction at its position with no pitch, so the horizon is the image row `cy`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .layout import SceneLayout

NEAR = 0.4  # near clipping plane (m)
_FOCAL = 0.75  # focal length as a fraction of the image width
_HORIZON = 0.44  # horizon row as a fraction of the image height


@dataclass(frozen=True)
class Camera:
    """Pose (world position, heading) and intrinsics of the camera."""

    position: tuple[float, float, float]
    yaw: float  # radians from +Z towards +X
    focal: float  # pixels
    cx: float
    cy: float
    width: int
    height: int

    @cached_property
    def rotation(self) -> np.ndarray:
        """3x3 matrix taking world directions to camera directions."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return np.array([[c, 0.0, -s], [0.0, -1.0, 0.0], [s, 0.0, c]])

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (N, 3) to camera coordinates (N, 3)."""
        return (np.asarray(points, dtype=np.float64) - self.position) @ self.rotation.T

    def direction_to_camera(self, vectors: np.ndarray) -> np.ndarray:
        """World directions (N, 3) to camera coordinates (N, 3) (rotation only)."""
        return np.asarray(vectors, dtype=np.float64) @ self.rotation.T

    def project(self, points: np.ndarray) -> np.ndarray:
        """Camera points (N, 3) with z > 0 to pixel coordinates (N, 2)."""
        return points[:, :2] * (self.focal / points[:, 2:3]) + (self.cx, self.cy)


def camera_at(layout: SceneLayout, time: float, width: int, height: int) -> Camera:
    """The camera of scene `layout` at `time` seconds: driving its lane at the layout's speed."""
    road = layout.road
    z = layout.camera_speed * time
    x = float(road.centre_x(z)) + road.lane_offsets()[layout.camera_lane]
    return Camera(position=(x, layout.camera_height, z), yaw=float(road.heading(z)), focal=_FOCAL * width,
                  cx=width / 2, cy=_HORIZON * height, width=width, height=height)


def clip_near(polygon: np.ndarray) -> np.ndarray:
    """Clip a camera-space polygon (N, 3) to z >= NEAR (Sutherland-Hodgman); may return no points."""
    z = polygon[:, 2]
    inside = z >= NEAR
    if inside.all():
        return polygon
    if not inside.any():
        return polygon[:0]
    following = np.roll(polygon, -1, axis=0)
    crossing = inside != np.roll(inside, -1)
    dz = np.where(crossing, following[:, 2] - z, 1.0)
    cut = polygon + (following - polygon) * ((NEAR - z) / dz)[:, None]
    points = np.stack([polygon, cut], axis=1).reshape(-1, 3)
    return points[np.stack([inside, crossing], axis=1).reshape(-1)]
