"""The pinhole ground-plane camera and the polygon helpers every drawn shape goes through.

World coordinates are metres in the camera's road frame: ``x`` lateral (right positive), ``y`` height above the ground,
``z`` depth ahead. The camera looks along ``+z`` with no pitch or roll, so a ground point projects to row
``v = horizon_y + focal_px * height_m / z`` and column ``u = vanishing_x + focal_px * x / z``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Point = tuple[float, float]
IntPolygon = list[tuple[int, int]]


@dataclass(frozen=True)
class Camera:
    """Intrinsics and mounting of the camera; values are rounded so the sidecar stores exactly what was used."""

    width: int
    height: int
    horizon_y: float
    focal_px: float
    height_m: float
    vanishing_x: float

    @classmethod
    def sample(cls, rng: np.random.Generator, size: tuple[int, int]) -> Camera:
        """A camera like Cityscapes' (focal about 1.1 image widths, mounted 1.2-1.4 m high), jittered per image."""
        h, w = size
        return cls(
            width=w,
            height=h,
            horizon_y=round(h * rng.uniform(0.40, 0.46), 2),
            focal_px=round(w * rng.uniform(0.95, 1.15), 2),
            height_m=round(rng.uniform(1.15, 1.45), 3),
            vanishing_x=round(w * (0.5 + rng.uniform(-0.05, 0.05)), 2),
        )

    def project(self, xyz: np.ndarray) -> list[Point]:
        """Project ``(N, 3)`` world points (all with ``z > 0``) to pixel ``(u, v)`` pairs."""
        xyz = np.asarray(xyz, dtype=np.float64)
        inv_z = self.focal_px / xyz[:, 2]
        u = self.vanishing_x + xyz[:, 0] * inv_z
        v = self.horizon_y + (self.height_m - xyz[:, 1]) * inv_z
        return list(zip(u.tolist(), v.tolist(), strict=True))

    def ground_quad(self, x0: float, x1: float, z0: float, z1: float, y: float = 0.0) -> list[Point]:
        """A horizontal rectangle at height ``y`` spanning ``[x0, x1] x [z0, z1]`` (a quad in the image)."""
        return self.project(np.array([[x0, y, z0], [x1, y, z0], [x1, y, z1], [x0, y, z1]]))

    def upright_rect(self, x0: float, x1: float, y0: float, y1: float, z: float) -> list[Point]:
        """A rectangle facing the camera at depth ``z``."""
        return self.project(np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]]))

    def side_quad(self, x: float, z0: float, z1: float, y0: float, y1: float) -> list[Point]:
        """A rectangle in the vertical plane at lateral ``x`` (a facade, a vehicle's flank)."""
        return self.project(np.array([[x, y0, z0], [x, y0, z1], [x, y1, z1], [x, y1, z0]]))

    def px_per_m(self, z: float) -> float:
        """Image scale of an object at depth ``z``."""
        return self.focal_px / z

    def depth_of_row(self, v: float) -> float:
        """Depth of the ground point seen at row ``v`` (below the horizon)."""
        return self.focal_px * self.height_m / max(v - self.horizon_y, 1e-6)


def _clip_axis(points: list[Point], axis: int, bound: float, keep_above: bool) -> list[Point]:
    """One Sutherland-Hodgman pass against the line ``coord[axis] == bound``."""
    if not points:
        return points
    out: list[Point] = []
    prev = points[-1]
    prev_in = prev[axis] >= bound if keep_above else prev[axis] <= bound
    for cur in points:
        cur_in = cur[axis] >= bound if keep_above else cur[axis] <= bound
        if cur_in != prev_in:
            t = (bound - prev[axis]) / (cur[axis] - prev[axis])
            other = prev[1 - axis] + t * (cur[1 - axis] - prev[1 - axis])
            out.append((bound, other) if axis == 0 else (other, bound))
        if cur_in:
            out.append(cur)
        prev, prev_in = cur, cur_in
    return out


def clip_to_image(points: Sequence[Point], width: int, height: int) -> IntPolygon | None:
    """Clip a polygon to the pixel grid ``[0, W-1] x [0, H-1]`` and round it to integer vertices.

    Cityscapes polygons hold integer pixel coordinates inside the image; ``None`` when fewer than three distinct
    vertices are left (the shape is off-image or degenerate), so it is neither drawn nor written.
    """
    pts = list(points)
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    if max(xs) < 0 or min(xs) > width - 1 or max(ys) < 0 or min(ys) > height - 1:
        return None
    if min(xs) < 0 or max(xs) > width - 1 or min(ys) < 0 or max(ys) > height - 1:
        pts = _clip_axis(pts, 0, 0.0, True)
        pts = _clip_axis(pts, 0, float(width - 1), False)
        pts = _clip_axis(pts, 1, 0.0, True)
        pts = _clip_axis(pts, 1, float(height - 1), False)
    poly: IntPolygon = []
    for x, y in pts:
        q = (math.floor(x + 0.5), math.floor(y + 0.5))
        if not poly or poly[-1] != q:
            poly.append(q)
    while len(poly) > 1 and poly[0] == poly[-1]:
        poly.pop()
    return poly if len(set(poly)) >= 3 else None


def clip_rows(points: Sequence[Point], v0: float, v1: float) -> list[Point]:
    """The part of a polygon between rows ``v0`` and ``v1`` (used to paint trousers below the hips)."""
    return _clip_axis(_clip_axis(list(points), 1, v0, True), 1, v1, False)


def convex_hull(points: Sequence[Point]) -> list[Point]:
    """Andrew's monotone chain; the silhouette of a projected box or bicycle."""
    pts = sorted(set(points))
    if len(pts) < 3:
        return pts

    def cross(o: Point, a: Point, b: Point) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[Point] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[Point] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def circle(cx: float, cy: float, rx: float, ry: float | None = None, n: int = 12) -> list[Point]:
    """A polygon approximating an ellipse (every shape of the dataset is a polygon)."""
    ry = rx if ry is None else ry
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return list(zip((cx + rx * np.cos(t)).tolist(), (cy + ry * np.sin(t)).tolist(), strict=True))


def bbox_of(points: Sequence[Point]) -> tuple[float, float, float, float]:
    """``(x0, y0, x1, y1)`` of a point list."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)
