"""Drawing a scene onto a Canvas: the ground strips and markings, then the objects back to front."""

from __future__ import annotations

import math

import cv2
import numpy as np

from . import labels as L
from . import palette as P
from .camera import NEAR, Camera
from .layout import Hood, SceneLayout
from .palette import Material, Surface
from .raster import Canvas, Plane, Raster
from .things import Billboard, Box, Plate, Thing, things_between

_GROUND_DISTANCE = 260.0  # m of ground drawn ahead
_LANDMARK_DISTANCE = 220.0  # m to the farthest drawn landmark (building)
_SMALL_DISTANCE = 120.0  # m to the farthest drawn other object
_SAMPLES = np.concatenate(([-6.0, -1.0], np.geomspace(1.0, _GROUND_DISTANCE, 40)))  # ground rows, m ahead
_DASH, _DASH_PERIOD, _DASH_DISTANCE = 3.0, 9.0, 120.0
_TEXTURE_TILE = 64.0  # ground texture origin snaps to this grid so it stays fixed in the world

# Box faces: corner indices (corner = 4 * across + 2 * up + along, each 0 or 1), the axis the
# outward normal lies on and its sign, the texture origin corner, and the u and v axes
# (axes: 0 across, 1 up, 2 along).
_FACES = (
    ((4, 5, 7, 6), 0, 1, 4, 2, 1),
    ((0, 1, 3, 2), 0, -1, 0, 2, 1),
    ((1, 3, 7, 5), 2, 1, 1, 0, 1),
    ((0, 2, 6, 4), 2, -1, 0, 0, 1),
    ((2, 3, 7, 6), 1, 1, 2, 0, 2),
    ((0, 1, 5, 4), 1, -1, 0, 0, 2),
)
_CORNERS = np.array([(a, u, g) for a in (0, 1) for u in (0, 1) for g in (0, 1)], dtype=np.float64)
_GROUND_SURFACES = {
    "road": Surface(L.ROAD, P.ASPHALT, Material.ASPHALT),
    "verge": Surface(L.TERRAIN, P.GRASS, Material.GRASS),
    "sidewalk": Surface(L.SIDEWALK, P.PAVEMENT, Material.PAVEMENT),
    "far": Surface(L.TERRAIN, P.FAR_GRASS, Material.GRASS),
    "white": Surface(L.ROAD, P.MARKING_WHITE, Material.MARKING),
    "yellow": Surface(L.ROAD, P.MARKING_YELLOW, Material.MARKING),
}


class _Frame:
    """Per-frame helpers shared by the drawing functions."""

    def __init__(self, layout: SceneLayout, camera: Camera, canvas: Canvas) -> None:
        self.layout, self.camera, self.canvas = layout, camera, canvas
        self.sun = layout.daylight.sun_direction()
        cz = camera.position[2]
        world = np.array([[0.0, 0.0, math.floor(cz / _TEXTURE_TILE) * _TEXTURE_TILE]])
        axes = camera.direction_to_camera(np.eye(3))
        self.ground = Plane(normal=axes[1], origin=camera.to_camera(world)[0],
                            u_axis=axes[0], v_axis=axes[2], extent=(0.0, 0.0))
        self.ground_light = max(float(self.sun[1]), 0.0)

    def light(self, normal_world: np.ndarray) -> float:
        return max(float(np.dot(normal_world, self.sun)), 0.0)

    def fill_world(self, points: np.ndarray, surface: Surface, plane: Plane, light: float) -> None:
        self.canvas.fill(self.camera.to_camera(points), surface, plane, light)


def _strip(layout: SceneLayout, z: np.ndarray, a: float, b: float) -> np.ndarray:
    """World polygon of the ground between lateral offsets a and b along the sample rows z."""
    cx = layout.road.centre_x(z)
    near_edge = np.stack([cx + a, np.zeros_like(z), z], axis=1)
    far_edge = np.stack([cx + b, np.zeros_like(z), z], axis=1)
    return np.concatenate([near_edge, far_edge[::-1]])


def _draw_ground(f: _Frame) -> None:
    layout, road = f.layout, f.layout.road
    c = f.canvas
    far = c.add_surface(_GROUND_SURFACES["far"], f.ground, f.ground_light)
    c.fill_rows(math.ceil(f.camera.cy - 0.5), far)
    z = f.camera.position[2] + _SAMPLES
    kerbs = {side: layout.side(side).kerb(road, side) for side in (-1, 1)}

    def strip(a: float, b: float, kind: str) -> None:
        f.fill_world(_strip(layout, z, a, b), _GROUND_SURFACES[kind], f.ground, f.ground_light)

    for side in (-1, 1):
        s = layout.side(side)
        edges = np.cumsum([kerbs[side], s.verge, s.sidewalk, s.frontage, 60.0])
        kinds = ("verge", "sidewalk", "sidewalk" if s.frontage_paved else "verge", "verge")
        for a, b, kind in zip(edges[:-1], edges[1:], kinds):
            if b > a:
                strip(side * a, side * b, kind)
    strip(-kerbs[-1], kerbs[1], "road")
    line = 0.075
    if road.lanes_oncoming:
        strip(-line, line, "yellow")
    for side in (-1, 1):
        edge = kerbs[side] - layout.side(side).parking - 0.25
        strip(side * (edge - line), side * (edge + line), "white")
    dividers = [-i * road.lane_width for i in range(1, road.lanes_oncoming)]
    dividers += [i * road.lane_width for i in range(1, road.lanes_ahead)]
    cz = f.camera.position[2]
    for start in np.arange(math.floor((cz - 10.0) / _DASH_PERIOD) * _DASH_PERIOD, cz + _DASH_DISTANCE, _DASH_PERIOD):
        dz = np.array([start, start + _DASH])
        for offset in dividers:
            f.fill_world(_strip(layout, dz, offset - line, offset + line), _GROUND_SURFACES["white"],
                         f.ground, f.ground_light)


def _box_corners(box: Box) -> np.ndarray:
    (x, y, z), (w, h, length) = box.base, box.size
    c, s = math.cos(box.yaw), math.sin(box.yaw)
    across = (_CORNERS[:, 0] - 0.5) * w
    along = (_CORNERS[:, 2] - 0.5) * length
    return np.stack([x + across * c + along * s, y + _CORNERS[:, 1] * h, z - across * s + along * c], axis=1)


def _draw_box(f: _Frame, box: Box) -> None:
    corners = _box_corners(box)
    c, s = math.cos(box.yaw), math.sin(box.yaw)
    axes = np.array([(c, 0.0, -s), (0.0, 1.0, 0.0), (s, 0.0, c)])  # across, up, along (world)
    cam_axes = f.camera.direction_to_camera(axes)
    cam_corners = f.camera.to_camera(corners)
    pixels = f.canvas.to_pixels(cam_corners) if cam_corners[:, 2].min() >= NEAR else None
    eye = axes @ (np.array(f.camera.position) - box.base)  # the camera in box coordinates
    w, h, length = box.size
    low, high = (-w / 2, 0.0, -length / 2), (w / 2, h, length / 2)
    for index, axis, sign, origin, u, v in _FACES:
        if not (eye[axis] > high[axis] if sign > 0 else eye[axis] < low[axis]):
            continue
        surface = box.top if box.top is not None and axis == 1 and sign > 0 else box.surface
        plane = Plane(normal=sign * cam_axes[axis], origin=cam_corners[origin], u_axis=cam_axes[u],
                      v_axis=cam_axes[v], extent=(box.size[u], box.size[v]))
        light = f.light(sign * axes[axis])
        if pixels is not None:
            f.canvas.fill_pixels(pixels[list(index)], surface, plane, light)
        else:
            f.canvas.fill(cam_corners[list(index)], surface, plane, light)


def _draw_billboard(f: _Frame, board: Billboard) -> None:
    anchor = f.camera.to_camera(np.array([board.anchor]))[0]
    outline = np.array(board.outline)
    points = np.stack([anchor[0] + outline[:, 0], anchor[1] - outline[:, 1], np.full(len(outline), anchor[2])], axis=1)
    # Lit as if it leaned back towards the sky, facing the camera.
    normal_world = np.array([-math.sin(f.camera.yaw) * 0.8, 0.6, -math.cos(f.camera.yaw) * 0.8])
    plane = Plane(normal=np.array([0.0, 0.0, -1.0]), origin=anchor, u_axis=np.array([1.0, 0.0, 0.0]),
                  v_axis=np.array([0.0, -1.0, 0.0]), extent=(0.0, 0.0))
    f.canvas.fill(points, board.surface, plane, f.light(normal_world))


def _draw_plate(f: _Frame, plate: Plate) -> None:
    c, s = math.cos(plate.yaw), math.sin(plate.yaw)
    across = np.array([c, 0.0, -s])
    front = -np.array([s, 0.0, c])
    outline = np.array(plate.outline)
    points = np.array(plate.anchor) + outline[:, :1] * across + outline[:, 1:] * np.array([0.0, 1.0, 0.0])
    facing_camera = np.dot(front, np.array(f.camera.position) - np.array(plate.anchor)) > 0
    normal = front if facing_camera else -front
    cam_axes = f.camera.direction_to_camera(np.array([normal, across, (0.0, 1.0, 0.0)]))
    plane = Plane(normal=cam_axes[0], origin=f.camera.to_camera(np.array([plate.anchor]))[0],
                  u_axis=cam_axes[1], v_axis=cam_axes[2], extent=(0.0, 0.0))
    f.fill_world(points, plate.front if facing_camera else plate.back, plane, f.light(normal))


def _draw_thing(f: _Frame, thing: Thing) -> None:
    for part in thing.parts:
        if isinstance(part, Box):
            _draw_box(f, part)
        elif isinstance(part, Billboard):
            _draw_billboard(f, part)
        else:
            _draw_plate(f, part)


def _footprint_corners(thing: Thing, grow: float) -> np.ndarray:
    x, z, hw, hl, yaw = thing.footprint
    c, s = math.cos(yaw), math.sin(yaw)
    a = np.array([-1.0, 1.0, 1.0, -1.0]) * (hw + grow)
    g = np.array([-1.0, -1.0, 1.0, 1.0]) * (hl + grow)
    return np.stack([x + a * c + g * s, np.zeros(4), z - a * s + g * c], axis=1)


def _draw_shadow(f: _Frame, thing: Thing) -> None:
    """Ground shadow of a thing for the real style: a soft contact patch or a cast shadow."""
    if thing.shadow == "contact":
        f.canvas.shadow(f.camera.to_camera(_footprint_corners(thing, 0.25)), 0.55)
    elif thing.shadow == "cast":
        reach = thing.height / max(math.tan(f.layout.daylight.sun_elevation), 0.2)
        horizontal = np.array([f.sun[0], 0.0, f.sun[2]]) / max(math.hypot(f.sun[0], f.sun[2]), 1e-6)
        base = _footprint_corners(thing, 0.0)
        points = np.concatenate([base, base - reach * horizontal])[:, [0, 2]].astype(np.float32)
        hull = cv2.convexHull(points).reshape(-1, 2).astype(np.float64)
        f.canvas.shadow(f.camera.to_camera(np.stack([hull[:, 0], np.zeros(len(hull)), hull[:, 1]], axis=1)), 0.45)


def _sort_key(camera: Camera, things: list[Thing]) -> tuple[np.ndarray, np.ndarray]:
    """Distance from the camera to each footprint rectangle, and the footprint's depth in camera space."""
    fp = np.array([t.footprint for t in things]).reshape(-1, 5)
    dx, dz = camera.position[0] - fp[:, 0], camera.position[2] - fp[:, 1]
    c, s = np.cos(fp[:, 4]), np.sin(fp[:, 4])
    across, along = dx * c - dz * s, dx * s + dz * c
    distance = np.hypot(np.maximum(np.abs(across) - fp[:, 2], 0.0), np.maximum(np.abs(along) - fp[:, 3], 0.0))
    centre = camera.to_camera(np.stack([fp[:, 0], np.zeros(len(fp)), fp[:, 1]], axis=1))
    return distance, centre


def _visible(camera: Camera, thing: Thing, distance: float, centre: np.ndarray) -> bool:
    radius = math.hypot(thing.footprint[2], thing.footprint[3]) + 1.0
    limit = _LANDMARK_DISTANCE if thing.landmark else _SMALL_DISTANCE
    if distance > limit or centre[2] + radius < NEAR:
        return False
    return abs(centre[0]) - radius <= max(centre[2], 0.0) * camera.width / (2 * camera.focal) + 1.0


_HOOD_DROP = 0.45  # m from the camera down to the hood's surface (camera space: the plane y = _HOOD_DROP)


def _draw_hood(f: _Frame, hood: Hood) -> None:
    """The ego vehicle's hood and its emblem over the bottom of the frame, labelled IGNORE."""
    cam = f.camera
    width, height = cam.width, cam.height
    # The top edge: a parabola, highest at the centre; then down past the bottom corners.
    x = np.linspace(-0.02, 1.02, 33) * width
    across = (x - width / 2) / (width / 2)
    top = height * (1.0 - hood.height * (1.0 - hood.droop * across**2))
    outline = np.concatenate([np.stack([x, top], 1), [(x[-1], height * 1.05), (x[0], height * 1.05)]])

    def on_hood(pixels: np.ndarray) -> np.ndarray:  # screen points (N, 2) to camera points on the hood plane
        rays = np.stack([(pixels[:, 0] - cam.cx) / cam.focal, (pixels[:, 1] - cam.cy) / cam.focal,
                         np.ones(len(pixels))], axis=1)
        return rays * (_HOOD_DROP / rays[:, 1:2])

    plane = Plane(normal=np.array([0.0, -1.0, 0.0]), origin=np.array([0.0, _HOOD_DROP, 0.0]),
                  u_axis=np.array([1.0, 0.0, 0.0]), v_axis=np.array([0.0, 0.0, 1.0]), extent=(2.0, 2.0))
    light = f.light(np.array([0.0, 1.0, 0.0]))
    f.canvas.fill(on_hood(outline), Surface(L.IGNORE, hood.paint, Material.CARPAINT), plane, light)
    # The emblem: a ring with a three-pointed star, standing on the top edge's highest point.
    radius = hood.emblem * height
    centre = np.array([width / 2, height * (1.0 - hood.height) + 1.2 * radius])
    angles = np.linspace(0.0, 2 * np.pi, 20, endpoint=False)
    circle = np.stack([np.sin(angles), -np.cos(angles)], 1)
    emblem = Surface(L.IGNORE, hood.emblem_paint, Material.METAL)
    f.canvas.fill(on_hood(centre + radius * circle), emblem, plane, light)
    f.canvas.fill(on_hood(centre + 0.75 * radius * circle), Surface(L.IGNORE, hood.paint, Material.CARPAINT),
                  plane, light)
    spokes = np.linspace(0.0, 2 * np.pi, 6, endpoint=False)
    reach = np.where(np.arange(6) % 2 == 0, 0.8, 0.15) * radius
    star = np.stack([np.sin(spokes) * reach, -np.cos(spokes) * reach], 1)
    f.canvas.fill(on_hood(centre + star), emblem, plane, light)


def draw_scene(layout: SceneLayout, camera: Camera, time: float) -> Raster:
    """Rasterise scene `layout` as seen by `camera` at `time` seconds."""
    sky = P.Paint(layout.daylight.sky_game, layout.daylight.sky_real_zenith)
    canvas = Canvas(camera, Surface(L.SKY, sky, Material.SKY))
    f = _Frame(layout, camera, canvas)
    _draw_ground(f)
    cz = camera.position[2]
    things = things_between(layout, cz - 20.0, cz + _LANDMARK_DISTANCE, time)
    distance, centre = _sort_key(camera, things)
    for i in np.argsort(-distance, kind="stable"):
        thing = things[i]
        if _visible(camera, thing, float(distance[i]), centre[i]):
            _draw_shadow(f, thing)
            _draw_thing(f, thing)
    if layout.hood is not None:
        _draw_hood(f, layout.hood)
    return canvas.finish()
