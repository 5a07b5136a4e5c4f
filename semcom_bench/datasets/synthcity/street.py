"""The static street: lane layout, ground strips, markings, crosswalk, facades and the sky.

Right-hand traffic. Lateral layout from left to right: facade | terrain? | sidewalk | oncoming lane(s) | ego lane |
adjacent lane? | kerb parking lane? | parking strip? | sidewalk | terrain? | facade. The ego lane is centred on the
camera up to a small offset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from semcom_bench.datasets.synthcity.builder import SceneBuilder
from semcom_bench.datasets.synthcity.geometry import IntPolygon, clip_to_image
from semcom_bench.datasets.synthcity.textures import Color, jitter

Z_NEAR = 0.5  # ground strips start beside the camera and are clipped to the image
Z_FAR = 1000.0  # ... and end where they are within a pixel of the horizon
FACADE_END_M = 400.0
MARKING_FAR_M = 150.0  # beyond this a 12 cm line is far below a pixel
PARKING_LANE_M = 2.2
PARKING_STRIP_M = 2.4
BLOCK_DEPTH_M = 12.0
HEDGE_DEPTH_M = 5.0
MARKING_W = 0.14
WINDOW_FAR_M = 160.0

FACADE_COLORS: tuple[Color, ...] = (
    (200, 186, 160), (155, 152, 148), (214, 210, 200), (150, 78, 58), (208, 188, 124), (196, 142, 118), (96, 90, 84),
)
SIDEWALK_COLORS: tuple[Color, ...] = ((168, 166, 160), (150, 148, 146), (170, 138, 126))


@dataclass(frozen=True)
class Block:
    """One facade segment along a side of the street: a building, or a hedge/tree line."""

    side: int  # -1 left, +1 right
    z0: float
    z1: float
    kind: str  # building | vegetation
    height: float
    color: Color
    brick: bool


@dataclass(frozen=True)
class Street:
    """Lateral layout (metres, camera at x = 0) and the facades of one scene."""

    lane_w: float
    ego_left: float
    n_oncoming: int
    adjacent: bool
    parking: str  # none | kerb | strip
    road: tuple[float, float]
    kerb_lane: tuple[float, float] | None
    strip: tuple[float, float] | None
    sidewalk_left: tuple[float, float]
    sidewalk_right: tuple[float, float]
    terrain_left: tuple[float, float] | None
    terrain_right: tuple[float, float] | None
    crosswalk: tuple[float, float] | None  # depth range
    blocks: tuple[Block, ...]
    asphalt: Color
    paving: Color

    @property
    def ego_right(self) -> float:
        return self.ego_left + self.lane_w

    @property
    def driving_right(self) -> float:
        """Right edge of the moving traffic (left of any kerb parking lane)."""
        return self.kerb_lane[0] if self.kerb_lane else self.road[1]

    def lane_span(self, lane: str, k: int = 0) -> tuple[float, float]:
        """Lateral extent of the ego lane, the adjacent lane, or oncoming lane ``k`` (0 next to the ego lane)."""
        if lane == "ego":
            return self.ego_left, self.ego_right
        if lane == "adjacent":
            return self.ego_right, self.ego_right + self.lane_w
        return self.ego_left - (k + 1) * self.lane_w, self.ego_left - k * self.lane_w

    def facade_x(self, side: int) -> float:
        if side > 0:
            return (self.terrain_right or self.sidewalk_right)[1]
        return (self.terrain_left or self.sidewalk_left)[0]

    @classmethod
    def sample(cls, rng: np.random.Generator, z_min: float) -> Street:
        """Draw a random street; ``z_min`` is the nearest depth visible above the ego vehicle's hood."""
        lane_w = rng.uniform(3.0, 3.6)
        ego_left = -lane_w / 2 + rng.uniform(-0.35, 0.35)
        n_oncoming = 1 if rng.random() < 0.65 else 2
        adjacent = bool(rng.random() < 0.4)
        right = ego_left + lane_w * (2 if adjacent else 1)
        u = rng.random()
        parking = "kerb" if u < 0.35 else "strip" if u < 0.6 else "none"
        kerb_lane = strip = None
        if parking == "kerb":
            kerb_lane = (right, right + PARKING_LANE_M)
            right += PARKING_LANE_M
        road = (ego_left - n_oncoming * lane_w, right)
        if parking == "strip":
            strip = (right, right + PARKING_STRIP_M)
            right += PARKING_STRIP_M
        sidewalk_right = (right, right + rng.uniform(2.5, 4.5))
        sidewalk_left = (road[0] - rng.uniform(2.5, 4.5), road[0])
        terrain_right = (sidewalk_right[1], sidewalk_right[1] + rng.uniform(1.0, 3.0)) if rng.random() < 0.3 else None
        terrain_left = (sidewalk_left[0] - rng.uniform(1.0, 3.0), sidewalk_left[0]) if rng.random() < 0.3 else None
        crosswalk = None
        if rng.random() < 0.45:
            zc = rng.uniform(max(z_min + 3.0, 9.0), 40.0)
            crosswalk = (zc, zc + rng.uniform(3.0, 4.5))
        blocks = []
        for side in (-1, 1):
            z = Z_NEAR
            while z < FACADE_END_M:
                length = rng.uniform(8.0, 30.0) * (1.0 + z / 80.0)  # far blocks are long: few polygons near the horizon
                if rng.random() < 0.75:
                    kind, height = "building", rng.uniform(6.0, 24.0)
                else:
                    kind, height = "vegetation", rng.uniform(3.0, 9.0)
                color = FACADE_COLORS[int(rng.integers(len(FACADE_COLORS)))]
                brick = bool(rng.random() < 0.3)
                blocks.append(Block(side, z, z + length, kind, height, jitter(rng, color, 12), brick))
                z += length
        g = int(rng.integers(82, 125))
        return cls(
            lane_w=lane_w,
            ego_left=ego_left,
            n_oncoming=n_oncoming,
            adjacent=adjacent,
            parking=parking,
            road=road,
            kerb_lane=kerb_lane,
            strip=strip,
            sidewalk_left=sidewalk_left,
            sidewalk_right=sidewalk_right,
            terrain_left=terrain_left,
            terrain_right=terrain_right,
            crosswalk=crosswalk,
            blocks=tuple(blocks),
            asphalt=(g, g, g + 4),
            paving=jitter(rng, SIDEWALK_COLORS[int(rng.integers(len(SIDEWALK_COLORS)))], 8),
        )


def draw_sky_and_ground(b: SceneBuilder, street: Street) -> IntPolygon | None:
    """Sky, ground strips and road markings; returns the crosswalk region polygon (``None`` if none is visible)."""
    cam, rng, painter = b.cam, b.rng, b.painter
    w, h = cam.width, cam.height
    hz = cam.horizon_y
    overcast = rng.random() < 0.4
    sky_color: Color = jitter(rng, (200, 204, 210) if overcast else (172, 202, 232), 10)
    sky = b.stuff("sky", [(0, 0), (w - 1, 0), (w - 1, hz + 1), (0, hz + 1)])
    if sky is not None:
        painter.fill(sky, sky_color, (("cloud", 0.22 if overcast else 0.12),), (0.8 if overcast else 0.62, 1.0))
    grass: Color = jitter(rng, (92, 112, 62), 12)
    base = b.stuff("terrain", [(0, hz), (w - 1, hz), (w - 1, h - 1), (0, h - 1)])
    if base is not None:  # only a few rows at the horizon stay visible (beyond the facades' end): no texture needed
        painter.polygon(base, grass)
    strips = [("sidewalk", street.sidewalk_left, street.paving), ("sidewalk", street.sidewalk_right, street.paving)]
    strips += [("terrain", t, grass) for t in (street.terrain_left, street.terrain_right) if t is not None]
    if street.strip is not None:
        strips.append(("parking", street.strip, jitter(rng, (128, 124, 120), 8)))
    for label, (x0, x1), color in strips:
        poly = b.stuff(label, cam.ground_quad(x0, x1, Z_NEAR, Z_FAR))
        if poly is not None:
            texture = (("leaf", 0.25), ("grain", 0.1)) if label == "terrain" else (("paving", 0.16), ("cloud", 0.08))
            painter.fill(poly, color, texture, (1.08, 0.92))
    road = b.stuff("road", cam.ground_quad(street.road[0], street.road[1], Z_NEAR, Z_FAR))
    if road is not None:
        painter.fill(road, street.asphalt, (("grain", 0.12), ("cloud", 0.1)), (1.12, 0.9))
    _draw_kerbs(b, street)
    _draw_markings(b, street)
    if street.crosswalk is None:
        return None
    zc0, zc1 = street.crosswalk
    return _crosswalk(b, street, zc0, zc1)


def _draw_kerbs(b: SceneBuilder, street: Street) -> None:
    kerb = jitter(b.rng, (185, 183, 178), 8)
    for x in (street.road[0] - 0.15, street.road[1]):
        b.painter.polygon(b.cam.ground_quad(x, x + 0.15, Z_NEAR, FACADE_END_M), kerb)


def _line(b: SceneBuilder, x: float, dashed: bool, color: Color, width: float = MARKING_W) -> None:
    cam = b.cam
    if not dashed:
        b.painter.polygon(cam.ground_quad(x - width / 2, x + width / 2, 1.0, MARKING_FAR_M * 2), color)
        return
    for z in np.arange(b.rng.uniform(0.5, 9.0), MARKING_FAR_M, 9.0):  # 3 m dashes every 9 m (urban spacing)
        b.painter.polygon(cam.ground_quad(x - width / 2, x + width / 2, float(z), float(z) + 3.0), color)


def _draw_markings(b: SceneBuilder, street: Street) -> None:
    rng = b.rng
    paint: Color = jitter(rng, (222, 222, 216), 10)
    _line(b, street.ego_left, dashed=bool(rng.random() < 0.7), color=paint)
    for k in range(1, street.n_oncoming):
        _line(b, street.ego_left - k * street.lane_w, dashed=True, color=paint)
    if street.adjacent:
        _line(b, street.ego_right, dashed=True, color=paint)
    if rng.random() < 0.6:
        _line(b, street.road[0] + 0.3, dashed=False, color=paint)
        _line(b, street.driving_right - 0.3, dashed=False, color=paint)
    bay_strip = street.kerb_lane or street.strip
    if bay_strip is not None:
        for z in np.arange(rng.uniform(2.0, 6.0), 80.0, 5.5):  # parking bay separators
            b.painter.polygon(b.cam.ground_quad(bay_strip[0], bay_strip[1], float(z), float(z) + 0.12), paint)


def _crosswalk(b: SceneBuilder, street: Street, zc0: float, zc1: float) -> IntPolygon | None:
    """Zebra stripes (paint only: Cityscapes labels crosswalks as road) and a stop line; returns the region."""
    cam, rng = b.cam, b.rng
    paint: Color = jitter(rng, (226, 226, 220), 8)
    for x in np.arange(street.road[0] + 0.4, street.road[1] - 0.5, 1.0):
        b.painter.polygon(cam.ground_quad(float(x), float(x) + 0.5, zc0, zc1), paint)
    b.painter.polygon(cam.ground_quad(street.ego_left, street.driving_right, zc0 - 1.5, zc0 - 1.1), paint)
    return clip_to_image(cam.ground_quad(street.road[0], street.road[1], zc0, zc1), cam.width, cam.height)


def draw_blocks(b: SceneBuilder, street: Street) -> None:
    """Facades far to near (a nearer block's end wall may hide a farther one)."""
    for blk in sorted(street.blocks, key=lambda k: -k.z0):
        if blk.kind == "building":
            _draw_building(b, street, blk)
        else:
            _draw_hedge(b, street, blk)


def _draw_building(b: SceneBuilder, street: Street, blk: Block) -> None:
    cam, rng = b.cam, b.rng
    x = street.facade_x(blk.side)
    xo = x + blk.side * BLOCK_DEPTH_M
    hb, z0, z1 = blk.height, blk.z0, blk.z1
    # facade along the street plus the block's end wall facing the camera
    outline = np.array([[x, 0, z1], [x, 0, z0], [xo, 0, z0], [xo, hb, z0], [x, hb, z0], [x, hb, z1]])
    poly = b.stuff("building", cam.project(outline))
    if poly is None:
        return
    texture = (("brick", 0.22), ("cloud", 0.08)) if blk.brick else (("cloud", 0.14), ("grain", 0.05))
    with b.painter.layer(poly, blk.color, texture, (1.05, 0.85)) as layer:
        floor_h = rng.uniform(2.9, 3.5)
        spacing = rng.uniform(2.4, 3.8)
        win_l = spacing * rng.uniform(0.35, 0.6)
        ys = np.arange(floor_h + 0.9, hb - 1.2, floor_h)
        zs = np.arange(max(z0 + 0.8, 1.5), min(z1 - 0.8, WINDOW_FAR_M) - win_l, spacing)
        if ys.size == 0 or zs.size == 0:
            return
        zz, yy = (a.ravel() for a in np.meshgrid(zs, ys))
        wh = floor_h * 0.45
        corners = np.stack(
            [
                np.stack([np.full_like(zz, x), yy, zz], 1),
                np.stack([np.full_like(zz, x), yy, zz + win_l], 1),
                np.stack([np.full_like(zz, x), yy + wh, zz + win_l], 1),
                np.stack([np.full_like(zz, x), yy + wh, zz], 1),
            ],
            1,
        ).reshape(-1, 3)
        pts = cam.project(corners)
        glass = np.array(jitter(rng, (58, 66, 80), 12), np.float32)
        colors = np.clip(glass * rng.uniform(0.55, 1.45, (zz.size, 1)), 0, 255).astype(int).tolist()
        for i, color in enumerate(colors):
            quad = pts[4 * i : 4 * i + 4]
            if abs(quad[0][0] - quad[1][0]) >= 1.0:  # narrower than a pixel only adds aliasing
                layer.polygon(quad, tuple(color))


def _draw_hedge(b: SceneBuilder, street: Street, blk: Block) -> None:
    cam, rng = b.cam, b.rng
    x = street.facade_x(blk.side)
    xo = x + blk.side * HEDGE_DEPTH_M
    n = max(3, int((blk.z1 - blk.z0) / 3.0))
    zs = np.linspace(blk.z0, blk.z1, n)
    tops = blk.height * (1.0 + 0.3 * rng.uniform(-1.0, 1.0, n))
    outline = [[x, 0, blk.z1], [x, 0, blk.z0], [xo, 0, blk.z0], [xo, tops[0], blk.z0]]
    outline += [[x, float(t), float(z)] for z, t in zip(zs, tops, strict=True)]
    poly = b.stuff("vegetation", cam.project(np.array(outline)))
    if poly is not None:
        b.painter.fill(poly, jitter(rng, (62, 96, 42), 14), (("leaf", 0.5), ("cloud", 0.12)), (1.1, 0.75))
