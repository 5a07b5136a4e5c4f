"""Things placed on the street (vehicles, people, cyclists, poles, trees, crowds) and the ego vehicle's hood.

Each thing has real-world size and a ground position ``(x, z)``; :func:`plan_things` places them without overlapping
footprints and the renderer draws them far to near, so occlusion follows depth.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from semcom_bench.datasets.synthcity.builder import SceneBuilder
from semcom_bench.datasets.synthcity.geometry import Camera, Point, circle, clip_rows, convex_hull
from semcom_bench.datasets.synthcity.street import PARKING_STRIP_M, Street
from semcom_bench.datasets.synthcity.textures import Color, Layer, jitter
from semcom_bench.datasets.synthcity.truth import LEGS_SHARE, ThingRecord

THINGS_FAR_M = 90.0
Z_NEAREST_M = 1.5  # keeps every drawn point in front of the camera
CROWD_P = 0.35  # chance of a far persongroup, and separately of a far cargroup
# width, height, length ranges in metres
VEHICLE_DIMS = {
    "car": ((1.70, 1.90), (1.40, 1.60), (4.0, 4.8)),
    "truck": ((2.40, 2.55), (3.0, 3.8), (6.5, 9.0)),
    "bus": ((2.50, 2.55), (3.0, 3.2), (11.0, 12.5)),
}
CAR_COLORS: tuple[Color, ...] = (
    (225, 225, 225), (30, 30, 32), (160, 162, 166), (95, 98, 102), (150, 25, 28), (30, 55, 120), (35, 70, 50),
    (190, 175, 140), (200, 120, 30),
)
TRUCK_COLORS: tuple[Color, ...] = ((230, 230, 228), (190, 192, 195), (60, 90, 150), (170, 40, 35))
BUS_COLORS: tuple[Color, ...] = ((235, 200, 40), (210, 40, 35), (235, 235, 230), (40, 90, 170))
SHIRTS: tuple[Color, ...] = (
    (30, 30, 35), (200, 200, 205), (150, 30, 40), (40, 70, 140), (60, 110, 70), (210, 170, 60), (120, 80, 140),
    (90, 90, 95), (230, 120, 60),
)
TROUSERS: tuple[Color, ...] = ((30, 35, 60), (25, 25, 28), (80, 80, 85), (170, 150, 115), (60, 70, 110))
SKINS: tuple[Color, ...] = ((235, 200, 170), (205, 160, 120), (150, 105, 70), (95, 65, 45))
HAIRS: tuple[Color, ...] = ((30, 22, 18), (90, 60, 35), (190, 160, 100), (120, 120, 120))
GLASS: Color = (38, 44, 54)
ARROW: tuple[Point, ...] = ((-0.5, -0.1), (0.2, -0.1), (0.2, -0.35), (0.55, 0.0), (0.2, 0.35), (0.2, 0.1), (-0.5, 0.1))
CROWD_HEAD: tuple[Point, ...] = ((-0.2, 0.82), (-0.09, 0.9), (0.0, 1.0), (0.09, 0.9), (0.2, 0.82))  # shoulders and head
TYRE: Color = (24, 24, 26)


def _pick(rng: np.random.Generator, palette: Sequence[Color], amount: int = 10) -> Color:
    return jitter(rng, palette[int(rng.integers(len(palette)))], amount)


def _box(x0: float, x1: float, y0: float, y1: float, z0: float, z1: float) -> list[list[float]]:
    return [[x, y, z] for x in (x0, x1) for y in (y0, y1) for z in (z0, z1)]


@dataclass(eq=False)
class Thing(ABC):
    """Something standing on the ground at depth ``z`` (its nearest point); drawn far to near."""

    x: float
    z: float

    @abstractmethod
    def draw(self, b: SceneBuilder) -> None:
        """Append its polygons to ``b`` and paint it."""


@dataclass(eq=False)
class Vehicle(Thing):
    """A car, truck or bus seen from behind (``facing=1``) or from the front (``facing=-1``, oncoming)."""

    kind: str = "car"
    w: float = 1.8
    h: float = 1.5
    length: float = 4.5
    facing: int = 1
    color: Color = (128, 128, 128)
    state: str = "driving"
    surface: str = "road"
    lane: str | None = None

    def _boxes(self) -> list[list[float]]:
        x0, x1, z0, z1 = self.x - self.w / 2, self.x + self.w / 2, self.z, self.z + self.length
        if self.kind == "car":
            c0, c1 = (z0 + 0.25 * self.length, z0 + 0.7 * self.length)
            if self.facing < 0:  # the bonnet is longer than the boot
                c0, c1 = (z0 + 0.35 * self.length, z0 + 0.8 * self.length)
            inset = 0.12 * self.w
            body = _box(x0, x1, 0.0, 0.58 * self.h, z0, z1)
            return body + _box(x0 + inset, x1 - inset, 0.58 * self.h, self.h, c0, c1)
        if self.kind == "truck":
            cab_h = min(2.9, self.h - 0.2)
            if self.facing > 0:
                return _box(x0, x1, 0.0, self.h, z0, z1 - 2.4) + _box(x0 + 0.05, x1 - 0.05, 0.0, cab_h, z1 - 2.3, z1)
            return _box(x0 + 0.05, x1 - 0.05, 0.0, cab_h, z0, z0 + 2.3) + _box(x0, x1, 0.0, self.h, z0 + 2.4, z1)
        return _box(x0, x1, 0.0, self.h, z0, z1)

    def draw(self, b: SceneBuilder) -> None:
        cam = b.cam
        x0, x1 = self.x - self.w / 2, self.x + self.w / 2
        b.painter.darken(cam.ground_quad(x0 - 0.15, x1 + 0.15, self.z - 0.25, self.z + self.length), 0.45)
        record = ThingRecord(self.kind, self.x, self.z, self.state, self.surface, lane=self.lane)
        poly = b.thing(record, convex_hull(cam.project(np.array(self._boxes()))))
        if poly is None:
            return
        with b.painter.layer(poly, self.color, (("cloud", 0.06), ("grain", 0.04)), (1.15, 0.72)) as layer:
            self._paint_details(cam, layer)

    def _paint_details(self, cam: Camera, layer: Layer) -> None:
        w, h, z0 = self.w, self.h, self.z
        x0, x1 = self.x - w / 2, self.x + w / 2
        z1 = z0 + self.length
        side = x0 if x0 > 0.2 else x1 if x1 < -0.2 else None  # the flank the camera sees, if any
        if self.kind == "car":
            c0 = z0 + (0.35 if self.facing < 0 else 0.25) * self.length
            c1 = z0 + (0.8 if self.facing < 0 else 0.7) * self.length
            if side is not None:
                layer.polygon(cam.side_quad(side, c0 + 0.1, c1 - 0.1, 0.62 * h, 0.92 * h), GLASS)
            zb = z0 + 0.1 * self.length  # the sloping rear window (or windscreen) from body top to roof
            window = [[x0 + 0.16 * w, 0.62 * h, zb], [x1 - 0.16 * w, 0.62 * h, zb],
                      [x1 - 0.2 * w, 0.95 * h, c0 + 0.05], [x0 + 0.2 * w, 0.95 * h, c0 + 0.05]]
            layer.polygon(cam.project(np.array(window)), GLASS)
        elif self.kind == "bus":
            if side is not None:
                layer.polygon(cam.side_quad(side, z0 + 1.0, z1 - 1.0, 1.2, 2.6), GLASS)
            top = 2.8 if self.facing > 0 else 2.9
            layer.polygon(cam.upright_rect(x0 + 0.15, x1 - 0.15, 1.0 if self.facing < 0 else 1.6, top, z0), GLASS)
        else:
            if self.facing > 0:  # cargo doors
                layer.line(cam.project(np.array([[self.x, 0.3, z0], [self.x, h - 0.1, z0]])), (90, 90, 90), 1)
            else:
                layer.polygon(cam.upright_rect(x0 + 0.2, x1 - 0.2, 1.6, 2.6, z0), GLASS)
        # lights, plate, bumper and tyres on the face towards the camera
        lamp: Color = (190, 25, 30) if self.facing > 0 else (236, 234, 214)
        ly = 0.42 * h if self.kind == "car" else 0.5
        for a, c in ((x0 + 0.04, x0 + 0.04 + 0.15 * w), (x1 - 0.04 - 0.15 * w, x1 - 0.04)):
            layer.polygon(cam.upright_rect(a, c, ly, ly + 0.1 * max(h, 1.5), z0), lamp)
            layer.polygon(cam.upright_rect(a - 0.02, c - 0.02, 0.0, 0.3, z0 + 0.3), TYRE)
        py = 0.22 * h if self.kind == "car" else 0.35
        layer.polygon(cam.upright_rect(self.x - 0.26, self.x + 0.26, py, py + 0.11, z0), (228, 228, 222))
        layer.polygon(cam.upright_rect(x0, x1, 0.0, 0.12, z0), (40, 40, 42))
        if side is not None:
            r = 0.33 if self.kind == "car" else 0.5
            for zc in (z0 + 0.18 * self.length, z1 - 0.18 * self.length):
                layer.polygon(cam.project(_wheel(side, zc, r)), TYRE)
                layer.polygon(cam.project(_wheel(side, zc, r, 0.5 * r)), (120, 120, 125))


def _wheel(x: float, zc: float, r: float, ring: float | None = None, n: int = 12) -> np.ndarray:
    """A wheel of radius ``r`` standing on the ground in the vertical plane at lateral ``x`` (``ring``: a smaller
    concentric circle, the rim)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    rr = r if ring is None else ring
    return np.stack([np.full(n, x), r + rr * np.sin(t), zc + rr * np.cos(t)], 1)


def _head(cx: float, cy: float, r: float, a0: float, a1: float, n: int = 7) -> list[Point]:
    t = np.radians(np.linspace(a0, a1, n))
    return list(zip((cx + r * np.cos(t)).tolist(), (cy + r * np.sin(t)).tolist(), strict=True))


def front_outline(spread: float) -> list[Point]:
    """Person seen from the front or back, in body heights: feet at y = 0, x to the right; ``spread`` opens the legs."""
    right = [
        (0.035, 0.848), (0.115, 0.815), (0.128, 0.74), (0.135, 0.56), (0.13, 0.47), (0.105, 0.465), (0.1, 0.55),
        (0.095, 0.50), (0.09, 0.30), (0.065 + spread, 0.03), (0.075 + spread, 0.0), (0.02 + spread, 0.0),
        (0.02, 0.28), (0.0, 0.455),
    ]
    left = [(-x, y) for x, y in reversed(right[:-1])]
    return _head(0.0, 0.925, 0.062, 240, -60) + right + left


def side_outline(stride: float) -> list[Point]:
    """Person walking towards ``+x`` seen from the side, in body heights; ``stride`` is half the feet distance."""
    s = stride
    return _head(0.0, 0.925, 0.062, 210, -40) + [
        (0.045, 0.86), (0.07, 0.80), (0.08 + 0.3 * s, 0.66), (0.09 + 0.6 * s, 0.50), (0.065 + 0.6 * s, 0.48),
        (0.06, 0.58), (0.06, 0.48), (0.05 + 0.5 * s, 0.25), (0.03 + s, 0.04), (0.085 + s, 0.0), (s - 0.02, 0.0),
        (0.01 + 0.5 * s, 0.24), (0.0, 0.43), (-0.5 * s, 0.23), (0.06 - s, 0.0), (-0.03 - s, 0.01),
        (-0.05 - 0.5 * s, 0.25), (-0.07, 0.47), (-0.075, 0.56), (-0.07 - 0.5 * s, 0.49), (-0.095 - 0.5 * s, 0.51),
        (-0.085, 0.70), (-0.08, 0.80), (-0.045, 0.86),
    ]


@dataclass(eq=False)
class Person(Thing):
    """A pedestrian, or (``class_name='rider'``) a cyclist's body seated ``base_y`` metres above the ground."""

    height: float = 1.75
    side_view: bool = False
    facing: int = 1
    stride: float = 0.0
    state: str = "standing"
    surface: str = "sidewalk"
    crossing: bool = False
    class_name: str = "person"
    base_y: float = 0.0
    colors: tuple[Color, Color, Color, Color] = ((90, 90, 95), (30, 35, 60), (205, 160, 120), (30, 22, 18))
    record: ThingRecord | None = field(default=None, init=False)

    def draw(self, b: SceneBuilder) -> None:
        cam = b.cam
        if self.base_y == 0.0:
            feet = cam.project(np.array([[self.x + 0.3 * np.cos(t), 0.0, self.z + 0.25 * np.sin(t)]
                                         for t in np.linspace(0, 2 * np.pi, 10, endpoint=False)]))
            b.painter.darken(feet, 0.3)
        (u, v), = cam.project(np.array([[self.x, self.base_y, self.z]]))
        k = cam.px_per_m(self.z) * self.height
        outline = side_outline(self.stride) if self.side_view else front_outline(self.stride)
        pts = [(u + self.facing * k * px, v - k * py) for px, py in outline]
        self.record = ThingRecord(self.class_name, self.x, self.z, self.state, self.surface, crossing=self.crossing)
        if self.class_name == "person":
            legs = [p for p, (_, py) in zip(pts, outline, strict=True) if py <= LEGS_SHARE]
            self.record.legs_box = (min(p[0] for p in legs), v - LEGS_SHARE * k, max(p[0] for p in legs), v)
        poly = b.thing(self.record, pts)
        if poly is None:
            return
        shirt, trousers, skin, hair = self.colors
        with b.painter.layer(poly, shirt, (("grain", 0.08), ("cloud", 0.1)), (1.1, 0.85)) as layer:
            legs = clip_rows(pts, v - 0.47 * k, v + 1)
            if len(legs) >= 3:
                layer.polygon(legs, trousers)
            shoes = clip_rows(pts, v - 0.035 * k, v + 1)
            if len(shoes) >= 3:
                layer.polygon(shoes, (28, 26, 26))
            hu = u + self.facing * k * (0.0 if not self.side_view else 0.005)
            face = circle(hu, v - 0.925 * k, 0.062 * k, n=10)
            layer.polygon(face, skin)
            crown = clip_rows(face, v - 0.99 * k, v - (0.925 if self.side_view else 0.94) * k)
            if len(crown) >= 3:
                layer.polygon(crown, hair)


@dataclass(eq=False)
class Cyclist(Thing):
    """A bicycle ridden along the road by a rider; both are instances, the rider drawn on top."""

    frame: Color = (40, 90, 160)
    rider: Person = field(default_factory=Person)

    def draw(self, b: SceneBuilder) -> None:
        cam = b.cam
        s = cam.px_per_m(self.z)
        wheels = []
        for zc in (self.z + 0.35, self.z + 1.4):
            wheels.append(cam.project(_wheel(self.x, zc, 0.34)))
        bars = cam.project(np.array([[self.x - 0.3, 1.0, self.z + 1.3], [self.x + 0.3, 1.0, self.z + 1.3],
                                     [self.x, 0.95, self.z + 0.5], [self.x, 0.34, self.z + 0.35],
                                     [self.x, 0.34, self.z + 1.4], [self.x, 0.3, self.z + 0.85]]))
        bike = ThingRecord("bicycle", self.x, self.z, "riding", "road")
        if b.thing(bike, convex_hull([p for ring in wheels for p in ring] + bars)) is not None:
            tyre_w = max(1, round(0.04 * s))
            for ring in wheels:
                b.painter.draw.line(ring + ring[:1], fill=TYRE, width=tyre_w)
            bar_l, bar_r, saddle, rear, front, crank = bars
            stem = ((bar_l[0] + bar_r[0]) / 2, (bar_l[1] + bar_r[1]) / 2)
            b.painter.draw.line([rear, saddle, stem, front], fill=self.frame, width=max(1, round(0.03 * s)))
            b.painter.draw.line([rear, crank, saddle, crank, stem], fill=self.frame, width=max(1, round(0.03 * s)))
            b.painter.draw.line([bar_l, bar_r], fill=(30, 30, 30), width=max(1, round(0.025 * s)))
        self.rider.draw(b)
        if self.rider.record is not None and bike.polygon_index >= 0:
            self.rider.record.partner = bike
            bike.partner = self.rider.record


@dataclass(eq=False)
class Pole(Thing):
    """A pole carrying a street lamp, a traffic light (on top or on an arm over the road) or a traffic sign."""

    height: float = 4.0
    kind: str = "lamp"  # lamp | light | sign
    arm: int = 0  # lateral direction of an arm over the road, 0 for none
    sign_shape: str = "circle"
    lit: int = 0  # which lamp of a traffic light is on

    def draw(self, b: SceneBuilder) -> None:
        cam, painter = b.cam, b.painter
        metal: Color = (112, 114, 118)
        poly = b.stuff("pole", cam.upright_rect(self.x - 0.08, self.x + 0.08, 0.0, self.height, self.z))
        if poly is not None:
            painter.fill(poly, metal, (("grain", 0.08),), (1.1, 0.8))
        top = self.height
        x_end = self.x
        if self.arm:
            x_end = self.x + self.arm * (3.0 if self.kind == "light" else 1.5)
            a, c = sorted((self.x, x_end))
            arm = b.stuff("pole", cam.upright_rect(a, c, top - 0.15, top, self.z))
            if arm is not None:
                painter.fill(arm, metal, (("grain", 0.08),))
        if self.kind == "lamp":
            head = b.stuff("pole", cam.upright_rect(x_end - 0.3, x_end + 0.3, top - 0.3, top - 0.05, self.z))
            if head is not None:
                painter.fill(head, (70, 72, 76), (("grain", 0.05),))
        elif self.kind == "light":
            y1 = top - 0.2 if self.arm else top + 0.95
            box = b.stuff("traffic light", cam.upright_rect(x_end - 0.17, x_end + 0.17, y1 - 0.95, y1, self.z - 0.1))
            if box is not None:
                with painter.layer(box, (36, 36, 38), (("grain", 0.1),)) as layer:
                    s = cam.px_per_m(self.z - 0.1)
                    for i, lamp in enumerate(((230, 40, 30), (240, 180, 30), (40, 220, 120))):
                        (u, v), = cam.project(np.array([[x_end, y1 - 0.17 - 0.3 * i, self.z - 0.1]]))
                        layer.polygon(circle(u, v, 0.11 * s, n=10), lamp if i == self.lit else (62, 60, 58))
        else:
            (u, v), = cam.project(np.array([[self.x, 2.35, self.z - 0.05]]))
            r = 0.32 * cam.px_per_m(self.z - 0.05)
            shape = {"circle": circle(u, v, r, n=16), "triangle": circle(u, v, r, n=3), "square": circle(u, v, r, n=4)}
            outer = shape[self.sign_shape]
            sign = b.stuff("traffic sign", outer)
            if sign is not None:
                border: Color = (40, 80, 170) if self.sign_shape == "square" else (200, 30, 35)
                with painter.layer(sign, border, (("grain", 0.06),)) as layer:
                    inner = [(u + 0.72 * (x - u), v + 0.72 * (y - v)) for x, y in outer]
                    layer.polygon(inner, (235, 235, 230) if self.sign_shape != "square" else (45, 90, 185))
                    if self.sign_shape == "square":  # an arrow, as on a one-way sign
                        layer.polygon([(u + r * ax, v + r * ay) for ax, ay in ARROW], (240, 240, 240))


@dataclass(eq=False)
class Tree(Thing):
    """A street tree: trunk and a ragged crown, both ``vegetation`` as in Cityscapes."""

    trunk_h: float = 3.0
    crown_r: float = 2.0

    def draw(self, b: SceneBuilder) -> None:
        cam, rng = b.cam, b.rng
        trunk = b.stuff("vegetation", cam.upright_rect(self.x - 0.14, self.x + 0.14, 0.0, self.trunk_h + 0.5, self.z))
        if trunk is not None:
            b.painter.fill(trunk, jitter(rng, (84, 66, 48), 8), (("grain", 0.15), ("cloud", 0.1)))
        (u, v), = cam.project(np.array([[self.x, self.trunk_h + self.crown_r, self.z]]))
        r = self.crown_r * cam.px_per_m(self.z)
        t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        radius = r * (1.0 + 0.18 * rng.uniform(-1, 1, t.size))
        outline = zip((u + radius * np.cos(t)).tolist(), (v + 0.85 * radius * np.sin(t)).tolist(), strict=True)
        crown = b.stuff("vegetation", list(outline))
        if crown is not None:
            b.painter.fill(crown, jitter(rng, (66, 102, 44), 14), (("leaf", 0.55), ("cloud", 0.12)), (1.15, 0.7))


@dataclass(eq=False)
class Crowd(Thing):
    """A far group Cityscapes annotators would not split: ``persongroup`` on a sidewalk or ``cargroup`` on the road."""

    kind: str = "person"
    x1: float = 0.0  # ``x`` is the left end, ``x1`` the right end
    members: int = 3

    def draw(self, b: SceneBuilder) -> None:
        cam, rng = b.cam, b.rng
        span = (self.x1 - self.x) / self.members
        centres = self.x + span * (np.arange(self.members) + 0.5)
        top: list[list[float]] = []
        if self.kind == "person":
            for c in centres:
                hgt = rng.uniform(1.6, 1.9)
                top += [[c + dx, f * hgt] for dx, f in CROWD_HEAD]
        else:
            for c in centres:
                top += [[c - 0.9, 0.8], [c - 0.65, 1.45], [c + 0.65, 1.45], [c + 0.9, 0.8]]
        outline = [[self.x, 0.0]] + top + [[self.x1, 0.0]]
        pts = cam.project(np.array([[x, y, self.z] for x, y in outline]))
        poly = b.stuff(f"{self.kind}group", pts)
        if poly is None:
            return
        base = _pick(rng, SHIRTS if self.kind == "person" else CAR_COLORS)
        with b.painter.layer(poly, base, (("cloud", 0.15), ("grain", 0.08))) as layer:
            for c in centres:
                if self.kind == "person":
                    layer.polygon(cam.upright_rect(c - 0.2, c + 0.2, 0.5, 1.4, self.z), _pick(rng, SHIRTS))
                    layer.polygon(cam.upright_rect(c - 0.15, c + 0.15, 0.0, 0.5, self.z), _pick(rng, TROUSERS))
                else:
                    layer.polygon(cam.upright_rect(c - 0.9, c + 0.9, 0.0, 0.8, self.z), _pick(rng, CAR_COLORS))
                    layer.polygon(cam.upright_rect(c - 0.6, c + 0.6, 0.85, 1.35, self.z), GLASS)


def draw_hood(b: SceneBuilder, top: float) -> None:
    """The ego vehicle's bonnet across the bottom rows, labelled ``ego vehicle`` as in Cityscapes."""
    w, h = b.cam.width, b.cam.height
    depth = h - top
    xs = np.linspace(0, w - 1, 13)
    curve = [(float(x), float(h - depth * (1.0 - 0.55 * ((x - w / 2) / (w / 2)) ** 2))) for x in xs]
    poly = b.stuff("ego vehicle", curve + [(w - 1, h - 1), (0, h - 1)])
    if poly is None:
        return
    paint = _pick(b.rng, ((40, 42, 48), (70, 72, 80), (30, 40, 70)), 8)
    with b.painter.layer(poly, paint, (("cloud", 0.1),), (1.5, 0.7)) as layer:
        glare = [(x, y + 0.12 * depth) for x, y in curve] + [(x, y + 0.22 * depth) for x, y in reversed(curve)]
        layer.polygon(glare, (150, 160, 175))


class _Footprints:
    """Ground rectangles already taken, so placed things never interpenetrate."""

    def __init__(self) -> None:
        self.taken: list[tuple[float, float, float, float]] = []

    def claim(self, x0: float, x1: float, z0: float, z1: float, margin: float = 0.3) -> bool:
        for a0, a1, b0, b1 in self.taken:
            if x0 < a1 + margin and a0 < x1 + margin and z0 < b1 + margin and b0 < z1 + margin:
                return False
        self.taken.append((x0, x1, z0, z1))
        return True


def _vehicle(rng: np.random.Generator, kind: str, x: float, z: float, **kw: object) -> Vehicle:
    (w0, w1), (h0, h1), (l0, l1) = VEHICLE_DIMS[kind]
    palette = {"car": CAR_COLORS, "truck": TRUCK_COLORS, "bus": BUS_COLORS}[kind]
    return Vehicle(x=x, z=z, kind=kind, w=rng.uniform(w0, w1), h=rng.uniform(h0, h1), length=rng.uniform(l0, l1),
                   color=_pick(rng, palette), **kw)  # type: ignore[arg-type]


def _person(rng: np.random.Generator, x: float, z: float, **kw: object) -> Person:
    height = rng.uniform(1.1, 1.4) if rng.random() < 0.08 else rng.uniform(1.55, 1.92)
    colors = (_pick(rng, SHIRTS, 14), _pick(rng, TROUSERS), _pick(rng, SKINS, 6), _pick(rng, HAIRS, 6))
    return Person(x=x, z=z, height=height, colors=colors, **kw)  # type: ignore[arg-type]


def _vehicle_kind(rng: np.random.Generator) -> str:
    u = rng.random()
    return "car" if u < 0.86 else "truck" if u < 0.95 else "bus"


def plan_things(rng: np.random.Generator, street: Street, z_min: float) -> list[Thing]:
    """Place this scene's things; ``z_min`` is the nearest visible depth above the hood."""
    things: list[Thing] = []
    taken = _Footprints()

    def add_vehicle(kind: str, x: float, z: float, **kw: object) -> None:
        v = _vehicle(rng, kind, x, z, **kw)
        if taken.claim(x - v.w / 2, x + v.w / 2, z, z + v.length):
            things.append(v)

    if street.crosswalk is not None:  # nobody parks on a crosswalk
        taken.taken.append((street.driving_right, street.road[1] + PARKING_STRIP_M, *street.crosswalk))
    ego = street.lane_span("ego")
    ego_x = (ego[0] + ego[1]) / 2
    if rng.random() < 0.75:
        z = rng.uniform(z_min + 1.0, 28.0) if rng.random() < 0.6 else rng.uniform(30.0, 80.0)
        add_vehicle(_vehicle_kind(rng), ego_x + rng.uniform(-0.3, 0.3), z, lane="ego")
    if rng.random() < 0.35:
        add_vehicle("car", ego_x + rng.uniform(-0.3, 0.3), rng.uniform(35.0, 100.0), lane="ego")
    if street.adjacent:
        lo, hi = street.lane_span("adjacent")
        for _ in range(int(rng.integers(0, 3))):
            x = (lo + hi) / 2 + rng.uniform(-0.3, 0.3)
            add_vehicle(_vehicle_kind(rng), x, rng.uniform(z_min, 70.0), lane="adjacent")
    for k in range(street.n_oncoming):
        lo, hi = street.lane_span("oncoming", k)
        for _ in range(int(rng.integers(0, 3))):
            x = (lo + hi) / 2 + rng.uniform(-0.3, 0.3)
            add_vehicle(_vehicle_kind(rng), x, rng.uniform(z_min + 2.0, THINGS_FAR_M), lane="oncoming", facing=-1)
    parking_strip = street.kerb_lane or street.strip
    if parking_strip is not None:
        surface = "road" if street.kerb_lane else "parking"
        x = (parking_strip[0] + parking_strip[1]) / 2
        for _ in range(int(rng.integers(2, 8))):
            z = rng.uniform(max(z_min - 3.0, Z_NEAREST_M), 70.0)  # the nearest may be cut by the image border
            add_vehicle("car", x + rng.uniform(-0.15, 0.15), z, state="parked",
                        surface=surface, lane="parking")
    if rng.random() < 0.1:
        x = street.sidewalk_right[0] + 1.1
        add_vehicle("car", x, rng.uniform(z_min, 50.0), state="parked", surface="sidewalk", lane="parking")

    def add_person(x: float, z: float, **kw: object) -> None:
        if taken.claim(x - 0.3, x + 0.3, z - 0.3, z + 0.3, margin=0.1):
            things.append(_person(rng, x, z, **kw))

    for _ in range(int(rng.integers(0, 8))):
        lo, hi = street.sidewalk_left if rng.random() < 0.5 else street.sidewalk_right
        walking = rng.random() < 0.6
        x, z = rng.uniform(lo + 0.4, hi - 0.4), rng.uniform(z_min, 60.0)
        stride = rng.uniform(0.03, 0.06) if walking else rng.uniform(0.0, 0.015)  # seen from the front: legs apart
        add_person(x, z, state="walking" if walking else "standing", stride=stride)
    if street.crosswalk is not None:
        zc0, zc1 = street.crosswalk
        for _ in range(int(rng.integers(0, 5))):
            add_person(rng.uniform(street.road[0] + 0.5, street.road[1] - 0.5), rng.uniform(zc0 + 0.3, zc1 - 0.3),
                       state="walking", surface="crosswalk", crossing=True, side_view=True,
                       facing=1 if rng.random() < 0.5 else -1, stride=rng.uniform(0.08, 0.2))
    if rng.random() < 0.15:
        walking = rng.random() < 0.7
        add_person(rng.uniform(street.road[0] + 0.5, street.driving_right - 0.5), rng.uniform(z_min + 3.0, 40.0),
                   state="walking" if walking else "standing", surface="road", crossing=walking, side_view=walking,
                   facing=1 if rng.random() < 0.5 else -1, stride=rng.uniform(0.08, 0.2) if walking else 0.01)
    if rng.random() < 0.35:
        for _ in range(int(rng.integers(1, 3))):
            x = street.driving_right - rng.uniform(0.6, 1.0)
            z = rng.uniform(z_min + 1.0, 50.0)
            if taken.claim(x - 0.35, x + 0.35, z, z + 1.8):
                rider = _person(rng, x, z + 0.65, state="riding", surface="road", class_name="rider", base_y=0.3,
                                stride=0.03)
                rider.height = min(rider.height, 1.8) * 0.92  # seated and leaning forward
                things.append(Cyclist(x=x, z=z, frame=_pick(rng, CAR_COLORS, 20), rider=rider))
    for side, (lo, hi) in ((-1, street.sidewalk_left), (1, street.sidewalk_right)):
        kerb = hi - 0.45 if side < 0 else lo + 0.45
        for _ in range(int(rng.integers(1, 5))):
            z = rng.uniform(z_min, 80.0)
            if not taken.claim(kerb - 0.1, kerb + 0.1, z - 0.1, z + 0.1):
                continue
            u = rng.random()
            kind = "light" if u < 0.3 else "sign" if u < 0.7 else "lamp"
            arm = -side if kind != "sign" and rng.random() < 0.5 else 0
            if arm:
                height = rng.uniform(5.0, 6.5)
            else:
                height = rng.uniform(5.0, 8.0) if kind == "lamp" else rng.uniform(2.8, 4.0)
            things.append(Pole(x=kerb, z=z, height=height, kind=kind, arm=arm, lit=int(rng.integers(3)),
                               sign_shape=("circle", "triangle", "square")[int(rng.integers(3))]))
        if rng.random() < 0.5:
            x = lo + 0.8 if side < 0 else hi - 0.8
            for z in np.arange(rng.uniform(z_min, z_min + 8.0), 80.0, rng.uniform(8.0, 15.0)):
                if taken.claim(x - 0.2, x + 0.2, float(z) - 0.2, float(z) + 0.2):
                    things.append(Tree(x=x, z=float(z), trunk_h=rng.uniform(2.2, 3.5), crown_r=rng.uniform(1.5, 2.8)))
    if rng.random() < CROWD_P:
        lo, hi = street.sidewalk_left if rng.random() < 0.5 else street.sidewalk_right
        members = int(rng.integers(3, 7))
        z = rng.uniform(35.0, 70.0)
        x0 = rng.uniform(lo, max(lo, hi - 0.45 * members))
        if taken.claim(x0, x0 + 0.45 * members, z, z + 1.0):
            things.append(Crowd(x=x0, z=z, kind="person", x1=x0 + 0.45 * members, members=members))
    if rng.random() < CROWD_P:
        members = int(rng.integers(2, 5))
        z = rng.uniform(70.0, 130.0)
        x0 = street.road[0] + rng.uniform(0.0, 1.0)
        if taken.claim(x0, x0 + 2.3 * members, z, z + 4.0):
            things.append(Crowd(x=x0, z=z, kind="car", x1=x0 + 2.3 * members, members=members))
    return things
