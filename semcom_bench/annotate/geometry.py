"""Monocular ground-plane geometry of a street scene, shared by the geometric relation predictor and the labelers.

The camera is taken as a pinhole looking along the road with no pitch or roll over a flat ground plane (as in
Cityscapes and synthcity). A ground point at depth ``z`` and lateral offset ``x`` (right positive) is then seen at
row ``v = horizon_y + focal_px * height_m / z`` and column ``u = vanishing_x + focal_px * x / z``, so:

* the **vanishing point** ``(vanishing_x, horizon_y)`` is where the longitudinal ground boundaries meet (road |
  sidewalk, sidewalk | terrain...); it is fitted to those boundaries in the semantic map;
* an object's **footprint** (the lowest row of its mask) gives its lateral offset ``x = (u - vanishing_x) *
  height_m / (v - horizon_y)``, which needs only the camera height, and its depth ``z = focal_px * height_m /
  (v - horizon_y)``, which needs the focal length too;
* the **camera height** follows from vehicles of known width (:data:`KNOWN_WIDTH_M`) standing on the ground;
* the **focal length** cannot be told from one view of a flat world without something of known length along the
  depth axis, so :data:`NOMINAL_FOCAL` is assumed and depths carry its error (about +-10 % for focal lengths of
  0.95-1.15 image widths).

An object whose contact is hidden is placed from what is seen of it (:meth:`SceneGeometry.contact`). The ground
class under it is read at its lateral offsets, since ground strips run along the road (:meth:`SceneGeometry.surface`).
Crosswalks are road in Cityscapes' labels; they are found as rows where the free road pixels show many bright stripes
(:meth:`SceneGeometry.crosswalk_rows`), and lines painted along the road as peaks of the lateral offsets of paint
(:meth:`SceneGeometry.markings`). Nothing here reads dataset-specific truth: everything comes from the image, the
semantic map and the masks. Without a semantic map the nominal camera is used and no surface is known.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import numpy as np
from cityscapesscripts.helpers.labels import name2label

from semcom_bench.annotate.base import Detection, Scene
from semcom_bench.annotate.patches import box_mask

VEHICLES = frozenset({"car", "truck", "bus", "caravan", "trailer", "train"})
TWO_WHEELERS = frozenset({"bicycle", "motorcycle"})
HUMANS = frozenset({"person", "rider"})
RIDER_FEET_M = 0.3  # a cyclist's feet rest on the pedals, this high above the road
NOMINAL_HORIZON = 0.43  # horizon row as a fraction of the image height when the ground shows no boundaries
NOMINAL_FOCAL = 1.05  # focal length in image widths (Cityscapes: 2262 px at 2048 px wide, i.e. 1.10)
NOMINAL_HEIGHT_M = 1.3  # camera height above the road (Cityscapes: 1.22 m)
KNOWN_WIDTH_M = {"car": 1.8, "truck": 2.45, "bus": 2.5}  # typical widths of a vehicle's rear or front face
PERSON_HEIGHT_M = 1.7
MIN_ROWS_BELOW = 3  # ground pixels closer to the horizon give too coarse a lateral offset
FINE_ROWS_BELOW = 10  # ... and these a lateral step of a tenth of the camera height
MIN_HALF_WIDTH_M = 0.2  # ground read under a thin object (a bicycle from behind, a foot) spans at least this each side
NEAR_M = 3.0  # the ground this far in front of an object is read first for what it stands on
CROSSWALK_MIN_M = 2.5  # a zebra crossing is at least this deep (3-4 m in Europe); shorter stripe bands are other paint
STRIPE_MIN_RUNS = 3  # bright stripes a crosswalk row shows at least (lane markings give 1-2)
STRIPE_MIN_FRACTION = 0.3  # share of a crosswalk row's free road pixels that is paint (stripes are half the period)
PAINT_LUM = 650  # RGB sum of white road paint; paint is what is brighter than halfway from the asphalt to it
MARKING_ROWS_BELOW = 15  # paint rows used for lines: a pixel there spans under a tenth of the camera height
MARKING_RANGE_M = 30.0
MARKING_BIN_M = 0.1
MARKING_HALF_WIDTH_M = 0.15  # a line is 0.12-0.15 m wide
MARKING_MIN_ROWS = 6
SOLID_COVER = 0.8  # a dashed line paints a third of its length (3 m dashes, 6 m gaps in towns)

LABEL_ID = {name: name2label[name].id for name in ("road", "sidewalk", "parking", "rail track", "terrain")}
GROUND = {v: k for k, v in LABEL_ID.items()}  # label id -> stuff name
ROAD = LABEL_ID["road"]
OUT_OF_VIEW = np.array([name2label[n].id for n in ("ego vehicle", "rectification border", "out of roi")])
GROUND_IDS = np.array(sorted(GROUND))


@dataclass(frozen=True)
class GroundPlane:
    """The camera over the ground plane; ``source`` says where the vanishing point came from: ``"road"`` (ground
    boundaries), ``"sizes"`` (one boundary and the horizon from object sizes) or ``"nominal"`` (assumed)."""

    horizon_y: float
    vanishing_x: float
    focal_px: float
    height_m: float
    source: str = "nominal"

    def rows_below(self, v: float) -> float:
        """Rows from the horizon down to row ``v``, at least half a pixel (a point at the horizon is very far)."""
        return max(v - self.horizon_y, 0.5)

    def depth(self, v: float) -> float:
        """Depth in metres of the ground point seen at row ``v``."""
        return self.focal_px * self.height_m / self.rows_below(v)

    def lateral(self, u: float, v: float) -> float:
        """Lateral offset in metres (right positive) of the ground point seen at ``(u, v)``."""
        return (u - self.vanishing_x) * self.height_m / self.rows_below(v)

    def px_per_m(self, v: float) -> float:
        """Pixels per metre across the image on the ground at row ``v``."""
        return self.rows_below(v) / self.height_m


@dataclass(frozen=True)
class Footprint:
    """Where an object meets the ground: columns ``u0..u1`` of its lowest row ``v``; ``top`` is its highest row.

    ``cut_bottom``: the object goes on out of view below ``v`` (image border, the ego vehicle's hood);
    ``occluded_bottom``: another instance or a non-ground thing (a pole) hides it below ``v``;
    ``cut_left``/``cut_right``: another instance or the image border is right beside its lowest row. Such a
    footprint is not where the object really touches the ground.
    """

    u0: int
    u1: int
    v: int
    top: int
    cut_bottom: bool = False
    occluded_bottom: bool = False
    cut_left: bool = False
    cut_right: bool = False
    occluder: int | None = None  # object_id of the instance hiding most of the bottom or ends, if any

    @property
    def centre(self) -> float:
        return (self.u0 + self.u1) / 2.0

    @property
    def width(self) -> int:
        """Pixels between the outermost pixel centres (the projected width of a shape with integer vertices)."""
        return self.u1 - self.u0

    @property
    def height_px(self) -> int:
        return self.v - self.top + 1

    @property
    def grounded(self) -> bool:
        """The lowest row is where the object stands."""
        return not (self.cut_bottom or self.occluded_bottom)

    @property
    def whole(self) -> bool:
        """Nothing hides the object's lowest row or its ends."""
        return self.grounded and not (self.cut_left or self.cut_right)


@dataclass(frozen=True)
class Boundary:
    """A longitudinal boundary between two ground classes: the line ``u = a + b * v`` through its pixels.

    ``left`` and ``right`` are the label ids on its two sides; ``u``, ``v`` the boundary points (between pixels).
    """

    left: int
    right: int
    a: float
    b: float
    u: np.ndarray = field(repr=False)
    v: np.ndarray = field(repr=False)

    def lateral(self, plane: GroundPlane) -> float | None:
        """Lateral offset in metres of the boundary as a line through the vanishing point.

        Each point gives ``x = (u - vanishing_x) * height / (v - horizon)``; the median weighted by the rows below
        the horizon (a near point is known to a finer lateral step) is robust to the few points off the line.
        """
        below = self.v - plane.horizon_y
        keep = below >= MIN_ROWS_BELOW
        if not keep.any():
            return None
        x = (self.u[keep] - plane.vanishing_x) * plane.height_m / below[keep]
        weight = below[keep]
        order = np.argsort(x)
        cum = np.cumsum(weight[order])
        return float(x[order][np.searchsorted(cum, cum[-1] / 2.0)])


@dataclass(frozen=True)
class Contact:
    """Where an object touches the ground: lateral extent ``x0..x1`` (metres, right positive) at image row ``v``.

    ``seen`` is false when the contact is hidden (by another object, the image border or the ego vehicle's hood)
    and could not be inferred from the object's size either; ``z`` is the depth in metres.
    """

    x0: float
    x1: float
    v: float
    z: float
    seen: bool = True

    @property
    def x(self) -> float:
        return (self.x0 + self.x1) / 2.0


@dataclass(frozen=True)
class Marking:
    """A line painted along the road at lateral offset ``x`` (metres); ``cover`` is the share of its visible
    length that is painted (about 1 for a solid line, a third for a dashed one)."""

    x: float
    cover: float

    @property
    def solid(self) -> bool:
        return self.cover >= SOLID_COVER


@dataclass
class SceneGeometry:
    """What the geometric stages derive from one scene; get it with :func:`analyze` (computed once per scene)."""

    scene: Scene
    plane: GroundPlane
    owner: np.ndarray  # (H, W) int16: index in scene.objects of the object owning each pixel, -1 for none
    footprints: dict[int, Footprint]  # object_id -> footprint (objects with no pixel have none)
    boundaries: list[Boundary]
    _contacts: dict[int, Contact] = field(default_factory=dict, repr=False)
    _kerbs: dict[int, float | None] = field(default_factory=dict, repr=False)
    _ground: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _paint: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _crosswalk: np.ndarray | None = field(default=None, repr=False)
    _markings: list[Marking] | None = field(default=None, repr=False)

    # -- positions ---------------------------------------------------------------------------------------------

    def contact(self, object_id: int) -> Contact:
        """The object's ground contact (see :class:`Contact`); the object must have a footprint."""
        if object_id not in self._contacts:
            self._contacts[object_id] = self._contact(self.scene.object(object_id), self.footprints[object_id])
        return self._contacts[object_id]

    def _contact(self, obj: Detection, fp: Footprint) -> Contact:
        plane = self.plane
        known = KNOWN_WIDTH_M.get(obj.class_name)
        v, u0, u1, seen = float(fp.v), float(fp.u0), float(fp.u1), fp.grounded
        if known is not None and fp.grounded and fp.cut_left != fp.cut_right:
            # One end hidden: the other end and the known width place the vehicle.
            span = known * plane.px_per_m(v)
            u0, u1 = (u1 - span, u1) if fp.cut_left else (u0, u0 + span)
        elif known is not None and not fp.whole:
            # Hidden below or at both ends: the widest visible row is (about) the vehicle's rear or front face,
            # whose width gives the ground row without the focal length: v - horizon = height * width_px / width_m.
            row = self._widest_row(obj)
            seen = row is not None
            if row is not None:
                u0, u1 = row
                v = max(plane.horizon_y + plane.height_m * (u1 - u0) / known, v)  # it stands below what is seen
        return Contact(plane.lateral(u0, v), plane.lateral(u1, v), v, plane.depth(v), seen)

    def _widest_row(self, obj: Detection) -> tuple[int, int] | None:
        """Columns of the widest row of the object's visible pixels, if no other object or border cuts its ends."""
        index = self.scene.objects.index(obj)
        x0, y0, x1, y1 = (int(c) for c in obj.bbox)
        own = self.owner[y0:y1, x0:x1] == index
        any_cols = own.any(axis=1)
        if not any_cols.any():
            return None
        first = np.where(any_cols, own.argmax(axis=1), 0)
        last = np.where(any_cols, own.shape[1] - 1 - own[:, ::-1].argmax(axis=1), -1)
        r = int(np.argmax(last - first))
        u0, u1, row = x0 + int(first[r]), x0 + int(last[r]), y0 + r
        width = self.owner.shape[1]
        for col in (u0 - 1, u1 + 1):
            if col < 0 or col >= width or self.owner[row, col] >= 0:
                return None
        return u0, u1

    def lateral(self, object_id: int) -> float:
        """Lateral offset in metres of the centre of the object's ground contact."""
        return self.contact(object_id).x

    def depth(self, object_id: int) -> float:
        """Depth in metres of the object's ground contact."""
        return self.contact(object_id).z

    def kerb_lateral(self, side: int = 1) -> float | None:
        """Lateral offset in metres of the road's right (``side=1``) or left (``-1``) edge, if it can be told.

        The longest boundary between road and another ground class on that side; where parked vehicles hide it
        all, the middle between the outermost free road pixel and the nearest free pixel of other ground beyond.
        """
        if side not in self._kerbs:
            self._kerbs[side] = self._kerb(side)
        return self._kerbs[side]

    def _kerb(self, side: int) -> float | None:
        edges = [
            b for b in self.boundaries
            if (b.left == ROAD and b.right != ROAD and side > 0) or (b.right == ROAD and b.left != ROAD and side < 0)
        ]
        if edges:
            return max(edges, key=lambda b: b.u.size).lateral(self.plane)
        x, rows, labels = self._ground_pixels()
        fine = rows >= self.plane.horizon_y + FINE_ROWS_BELOW
        road = side * x[fine & (labels == ROAD)]
        if road.size == 0:
            return None
        inner = float(road.max())
        beyond = side * x[fine & (labels != ROAD) & (side * x > inner - 0.5)]
        return side * (inner + float(beyond.min())) / 2.0 if beyond.size else side * inner

    # -- surfaces ----------------------------------------------------------------------------------------------

    def _ground_pixels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Lateral offset, row and label id of every free ground pixel a few rows below the horizon."""
        if self._ground is None:
            sem = self.scene.semantic
            if sem is None:
                empty = np.zeros(0)
                self._ground = (empty, empty, empty.astype(np.uint8))
            else:
                first = max(int(math.ceil(self.plane.horizon_y + MIN_ROWS_BELOW)), 0)
                sub = sem[first:]
                rows, cols = np.nonzero(np.isin(sub, GROUND_IDS) & (self.owner[first:] < 0))
                labels = sub[rows, cols]
                rows = rows + first
                x = (cols - self.plane.vanishing_x) * self.plane.height_m / (rows - self.plane.horizon_y)
                self._ground = (x, rows, labels)
        return self._ground

    def surface(self, object_id: int) -> str | None:
        """The ground class (``road``, ``sidewalk``, ``parking``, ``terrain``, ``rail track``) the object stands on.

        Ground strips run along the road, so the class under an object is read from the free ground pixels at the
        same lateral offsets (``Contact.x0..x1``): first the few metres just in front of it, then anywhere. ``None``
        without a semantic map or when no ground is visible there. Where ``Contact.seen`` is false this is a guess
        from where the visible part of the object is.
        """
        if object_id not in self.footprints:
            return None
        c = self.contact(object_id)
        x, rows, labels = self._ground_pixels()
        half = max((c.x1 - c.x0) / 2.0, MIN_HALF_WIDTH_M)
        across = np.abs(x - c.x) <= half
        near = rows <= self.plane.horizon_y + self.plane.focal_px * self.plane.height_m / max(c.z - NEAR_M, 0.5)
        for sel in (across & (rows > c.v) & near, across):
            found = labels[sel]
            if found.size:
                values, counts = np.unique(found, return_counts=True)
                return GROUND[int(values[np.argmax(counts)])]
        return None

    def crosswalk_rows(self) -> np.ndarray:
        """``(H,)`` bool: rows crossing a zebra crossing (many bright stripes on the free road pixels)."""
        if self._crosswalk is None:
            self._crosswalk = _crosswalk_rows(*self._road_paint(), self.plane)
        return self._crosswalk

    def markings(self) -> list[Marking]:
        """Lines painted along the road (lane lines, edge lines), left to right."""
        if self._markings is None:
            self._markings = _markings(*self._road_paint(), self.crosswalk_rows(), self.plane)
        return self._markings

    def _road_paint(self) -> tuple[np.ndarray, np.ndarray]:
        if self._paint is None:
            self._paint = _paint(self.scene, self.owner)
        return self._paint

    def on_crosswalk(self, object_id: int) -> bool:
        """Whether the object's ground contact row (give or take a row) crosses a crosswalk."""
        if object_id not in self.footprints:
            return False
        v = int(round(self.contact(object_id).v))
        return bool(self.crosswalk_rows()[max(v - 1, 0) : max(v + 2, 0)].any())


def _robust_line(v: np.ndarray, u: np.ndarray) -> tuple[float, float] | None:
    """Least squares ``u = a + b * v``, refitted without points more than 1.5 px off (corners, clutter)."""
    keep = np.ones(v.size, bool)
    a = b = 0.0
    for _ in range(3):
        if keep.sum() < 4 or np.ptp(v[keep]) < 3:
            return None
        b, a = np.polyfit(v[keep], u[keep], 1)
        keep = np.abs(a + b * v - u) <= 1.5
    return float(a), float(b)


def ground_boundaries(semantic: np.ndarray) -> list[Boundary]:
    """Longitudinal boundaries between ground classes, one per ordered class pair (left id, right id).

    Each boundary between two ground classes side by side in a row is one line through the vanishing point; the
    ordered pair tells the left kerb (sidewalk | road) from the right one (road | sidewalk).
    """
    ground = np.isin(semantic, GROUND_IDS)
    left, right = semantic[:, :-1], semantic[:, 1:]
    rows, cols = np.nonzero(ground[:, :-1] & ground[:, 1:] & (left != right))
    if rows.size == 0:
        return []
    pair = left[rows, cols].astype(np.int32) * 256 + right[rows, cols]
    found = []
    for key in np.unique(pair):
        sel = pair == key
        v = rows[sel].astype(np.float64)  # pixel centres sit at integer coordinates, as PIL draws polygons
        u = cols[sel].astype(np.float64) + 0.5  # the boundary lies between the two columns
        fit = _robust_line(v, u) if v.size >= 6 else None
        if fit is not None:
            found.append(Boundary(int(key) // 256, int(key) % 256, fit[0], fit[1], u, v))
    return found


def _vanishing_point(lines: list[tuple[float, float, int]], height: int) -> tuple[float, float] | None:
    """Least-squares meeting point of lines ``u = a + b v`` weighted by their point counts; ``None`` if ill-posed."""
    if len(lines) < 2:
        return None
    a, b, n = (np.array(x, np.float64) for x in zip(*lines, strict=True))
    norm = np.sqrt(1.0 + b * b)
    w = np.sqrt(n) / norm  # distance of (u, v) from line i: (u - b_i v - a_i) / norm_i
    design = np.stack([w, -b * w], axis=1)
    normal = design.T @ design
    if abs(np.linalg.det(normal)) < 1e-6 * float(np.trace(normal)) ** 2:
        return None  # parallel lines
    u, v = np.linalg.solve(normal, design.T @ (a * w))
    if not 0.1 * height < v < 0.8 * height:
        return None
    return float(u), float(v)


def _owner_map(scene: Scene) -> np.ndarray:
    owner = np.full((scene.height, scene.width), -1, np.int16)
    for index, obj in enumerate(scene.objects):
        mask = obj.mask if obj.mask is not None else box_mask(obj.bbox, scene.height, scene.width)
        owner[mask & (owner < 0)] = index
    return owner


def _footprint(scene: Scene, index: int, obj: Detection, owner: np.ndarray) -> Footprint | None:
    height, width = owner.shape
    x0, y0, x1, y1 = obj.bbox
    r0, r1 = max(int(math.floor(y0)), 0), min(int(math.ceil(y1)), height)
    c0, c1 = max(int(math.floor(x0)), 0), min(int(math.ceil(x1)), width)
    if r1 <= r0 or c1 <= c0:
        return None
    own = owner[r0:r1, c0:c1] == index
    rows = np.flatnonzero(own.any(axis=1))
    if rows.size == 0:
        return None
    # The lowest row only: a vehicle's bumper edge (higher rows take in a flank running to the vanishing point)
    # or a person's soles.
    cols = np.flatnonzero(own[rows[-1]])
    u0, u1, v, top = c0 + int(cols[0]), c0 + int(cols[-1]), r0 + int(rows[-1]), r0 + int(rows[0])
    cut_bottom = v + 1 >= height
    occluded_bottom = False
    below = np.zeros(0, np.int16)
    if not cut_bottom:
        # Below a standing object lies ground; another instance or a non-ground thing (a pole) there hides it.
        below = owner[v + 1, u0 : u1 + 1]
        hidden = (below >= 0) & (below != index)
        if scene.semantic is not None:
            labels = scene.semantic[v + 1, u0 : u1 + 1]
            out = np.isin(labels, OUT_OF_VIEW)
            cut_bottom = bool(out.mean() > 0.3)
            hidden |= (below < 0) & ~out & ~np.isin(labels, GROUND_IDS)
        occluded_bottom = not cut_bottom and bool(hidden.mean() > 0.3)

    around = [below[below >= 0]] if not cut_bottom else []

    def side_cut(col: int) -> bool:
        if col < 0 or col >= width:
            return True
        other = owner[max(v - 1, 0) : v + 1, col]
        other = other[(other >= 0) & (other != index)]
        around.append(other)
        return bool(other.size)

    cut_left, cut_right = side_cut(u0 - 1), side_cut(u1 + 1)
    others = np.concatenate(around) if around else np.zeros(0, np.int16)
    others = others[others != index]
    occluder = scene.objects[int(np.bincount(others).argmax())].object_id if others.size else None
    return Footprint(u0, u1, v, top, cut_bottom, occluded_bottom, cut_left, cut_right, occluder)


def estimate_plane(scene: Scene, footprints: dict[int, Footprint], boundaries: list[Boundary]) -> GroundPlane:
    """The camera of ``scene``.

    The vanishing point is where the ground boundaries meet. With a single boundary it lies on that line, at the
    horizon found from object sizes (see :func:`_horizon_from_sizes`); with none, the horizon comes from the sizes
    (or :data:`NOMINAL_HORIZON`) and the vanishing point is at mid-width. The height comes from vehicles of known
    width standing on the ground.
    """
    height, width = scene.height, scene.width
    vp = _vanishing_point([(b.a, b.b, b.u.size) for b in boundaries], height)
    if vp is not None:
        (u, v), source = vp, "road"
    else:
        sizes = _horizon_from_sizes(scene, footprints)
        v = sizes if sizes is not None else NOMINAL_HORIZON * height
        line = max(boundaries, key=lambda b: b.u.size, default=None)
        u = line.a + line.b * v if line is not None else width / 2.0
        source = "sizes" if sizes is not None else "nominal"
    estimates = []
    for obj in scene.objects:
        fp = footprints.get(obj.object_id)
        known = KNOWN_WIDTH_M.get(obj.class_name)
        if fp is not None and known is not None and fp.whole and fp.v - v >= 3 and fp.width >= 8:
            estimates.append(known * (fp.v - v) / fp.width)
    cam_h = float(np.median(estimates)) if estimates else NOMINAL_HEIGHT_M
    return GroundPlane(v, u, NOMINAL_FOCAL * width, cam_h, source)


def _horizon_from_sizes(scene: Scene, footprints: dict[int, Footprint]) -> float | None:
    """The horizon row from objects of known size standing on the ground, or ``None`` with too few of them.

    An object of width (or height) ``s`` metres standing at row ``v`` spans ``s * (v - horizon) / camera height``
    pixels, so size over ``s`` is linear in ``v`` and vanishes at the horizon. Vehicles count fully, people (whose
    heights vary more) at a third.
    """
    rows, sizes, weights = [], [], []
    for obj in scene.objects:
        fp = footprints.get(obj.object_id)
        if fp is None or not fp.whole:
            continue
        if obj.class_name in KNOWN_WIDTH_M and fp.width >= 6:
            rows.append(fp.v), sizes.append(fp.width / KNOWN_WIDTH_M[obj.class_name]), weights.append(1.0)
        elif obj.class_name == "person" and fp.height_px >= 10 and fp.top > 0:
            rows.append(fp.v), sizes.append((fp.height_px - 1) / PERSON_HEIGHT_M), weights.append(0.3)
    if len(rows) < 2 or np.ptp(rows) < 8:
        return None
    w = np.sqrt(weights)
    design = np.stack([np.asarray(rows, np.float64), np.ones(len(rows))], axis=1) * w[:, None]
    slope, intercept = np.linalg.lstsq(design, np.asarray(sizes) * w, rcond=None)[0]
    if slope <= 0:
        return None
    horizon = -intercept / slope
    return float(horizon) if 0.1 * scene.height < horizon < 0.8 * scene.height else None


def _paint(scene: Scene, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(free road, paint)`` masks: road pixels no instance hides, and those of them that are white paint."""
    if scene.semantic is None:
        empty = np.zeros(owner.shape, bool)
        return empty, empty
    road = (scene.semantic == ROAD) & (owner < 0)
    paint = np.zeros_like(road)
    if road.any():
        lum = scene.image[road].sum(axis=1, dtype=np.int16)  # 0..765, road pixels only
        paint[road] = lum > (float(np.median(lum)) + PAINT_LUM) / 2.0  # halfway between the asphalt and white paint
    return road, paint


def _crosswalk_rows(road: np.ndarray, paint: np.ndarray, plane: GroundPlane) -> np.ndarray:
    counts = road.sum(axis=1)
    runs = (paint[:, 1:] & ~paint[:, :-1]).sum(axis=1) + paint[:, 0]
    fraction = paint.sum(axis=1) / np.maximum(counts, 1)
    rows = (counts >= 5) & (runs >= STRIPE_MIN_RUNS) & (fraction >= STRIPE_MIN_FRACTION)
    # Keep bands of stripe rows (gaps of one row closed) at least as deep as a real crossing.
    out = np.zeros(road.shape[0], bool)
    idx = np.flatnonzero(rows)
    if idx.size == 0:
        return out
    for band in np.split(idx, np.flatnonzero(np.diff(idx) > 2) + 1):
        first, last = int(band[0]), int(band[-1])
        near = plane.rows_below(last)
        expected = near * near * CROSSWALK_MIN_M / (plane.focal_px * plane.height_m)  # rows of 2.5 m at that depth
        if last - first + 1 >= max(1.0, 0.5 * expected):
            out[first : last + 1] = True
    return out


def _markings(road: np.ndarray, paint: np.ndarray, crosswalk: np.ndarray, plane: GroundPlane) -> list[Marking]:
    """Longitudinal lines painted on the road: peaks of the lateral offsets of paint pixels.

    A line along the road keeps one lateral offset over many rows; crosswalk rows are left out, and transverse
    paint (stop lines, parking-bay separators) spreads over many offsets and makes no peak.
    """
    first = max(int(math.ceil(plane.horizon_y + MARKING_ROWS_BELOW)), 0)
    rows, cols = np.nonzero(paint[first:] & ~crosswalk[first:, None])
    if rows.size == 0:
        return []
    rows = rows + first
    x = (cols - plane.vanishing_x) * plane.height_m / (rows - plane.horizon_y)
    edges = np.arange(-MARKING_RANGE_M, MARKING_RANGE_M + MARKING_BIN_M, MARKING_BIN_M)
    counts = np.histogram(x, edges)[0]
    smooth = np.convolve(counts, np.ones(3), mode="same")
    found: list[Marking] = []
    for i in np.argsort(-smooth):
        centre = (edges[i] + edges[i + 1]) / 2.0
        if smooth[i] < MARKING_MIN_ROWS or any(abs(m.x - centre) < 2 * MARKING_HALF_WIDTH_M for m in found):
            continue
        near = np.abs(x - centre) <= MARKING_HALF_WIDTH_M
        painted = np.unique(rows[near])
        if painted.size < MARKING_MIN_ROWS:
            continue
        # Rows where that offset shows free road: how much of the visible line is painted (solid or dashed).
        span = np.arange(painted.min(), painted.max() + 1)
        at = np.round(plane.vanishing_x + centre * (span - plane.horizon_y) / plane.height_m).astype(int)
        inside = (at >= 0) & (at < road.shape[1])
        visible = road[span[inside], at[inside]] | paint[span[inside], at[inside]]
        found.append(Marking(float(np.median(x[near])), painted.size / max(int(visible.sum()), painted.size)))
    return sorted(found, key=lambda m: m.x)


_CACHE_LOCK = threading.Lock()
_CACHE: list[SceneGeometry] = []
_CACHE_SIZE = 4  # scenes in flight at once; the predictor and the labeler of one image run back to back


def analyze(scene: Scene) -> SceneGeometry:
    """The geometry of ``scene``, computed once: the predictor and the labeler of one image share it.

    Scenes are recognised by identity, so a scene must not be changed after its analysis.
    """
    with _CACHE_LOCK:
        for geo in _CACHE:
            if geo.scene is scene:
                return geo
    owner = _owner_map(scene)
    footprints = {}
    for index, obj in enumerate(scene.objects):
        fp = _footprint(scene, index, obj, owner)
        if fp is not None:
            footprints[obj.object_id] = fp
    boundaries = ground_boundaries(scene.semantic) if scene.semantic is not None else []
    geo = SceneGeometry(scene, estimate_plane(scene, footprints, boundaries), owner, footprints, boundaries)
    with _CACHE_LOCK:
        _CACHE.append(geo)
        del _CACHE[:-_CACHE_SIZE]
    return geo
