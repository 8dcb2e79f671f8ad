"""Procedural aerial scenes for the synthetic dataset: objects, placement and rendering.

Design choices:
- A scene is a list of vector objects (rotated rectangles, blobs, polylines) drawn with PIL's C
  rasteriser into three aligned images: RGB, a semantic label map and an instance-id map. Labels
  and instances therefore match the pixels exactly, with no anti-aliasing between classes.
- Objects never overlap except vehicles, which sit on roads and are drawn after them; so every
  instance is fully visible and its pixel box is its true box.
- Texture is luminance noise (fine Gaussian + upsampled coarse noise) scaled per class: vegetation
  is speckled, water and roofs are smooth. The noise fields belong to the scene, so the "after"
  image of a change pair is pixel-identical wherever nothing changed.
- All randomness comes from one ``numpy.random.Generator`` per scene (seeded by the caller from
  ``(seed, split, index)``), which makes any scene reproducible on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image, ImageDraw

# Semantic label values of the scene label map; value 0 ("others") is the background ground.
CLASS_NAMES: tuple[str, ...] = ("others", "building", "road", "water", "vegetation", "vehicle", "bare land")
CLASS_INDEX: dict[str, int] = {name: i for i, name in enumerate(CLASS_NAMES)}
# Nouns used in questions, captions and referring expressions (singular, plural).
NOUNS: dict[str, tuple[str, str]] = {
    "building": ("building", "buildings"),
    "road": ("road", "roads"),
    "water": ("water body", "water bodies"),
    "vegetation": ("vegetation patch", "vegetation patches"),
    "vehicle": ("vehicle", "vehicles"),
    "bare land": ("bare land patch", "bare land patches"),
}
ROOF_COLORS: dict[str, tuple[int, int, int]] = {
    "red": (196, 48, 40),
    "white": (236, 236, 230),
    "orange": (222, 135, 45),
    "gray": (128, 130, 138),
    "blue": (62, 96, 178),
    "brown": (120, 84, 56),
}
CLASS_COLORS: dict[str, tuple[int, int, int]] = {
    "road": (66, 66, 72),
    "water": (36, 78, 150),
    "vegetation": (42, 112, 40),
    "vehicle": (240, 208, 40),
    "bare land": (190, 152, 104),
}
# (fine, coarse) noise amplitude per label value, in 8-bit grey levels.
NOISE_AMPLITUDE: np.ndarray = np.array(
    [[7, 10], [3, 1], [5, 2], [2, 5], [14, 16], [2, 0], [7, 9]], dtype=np.float32
)
GROUND_COLORS: dict[str, tuple[int, int, int]] = {
    "residential": (150, 156, 120),
    "industrial": (150, 146, 138),
    "farmland": (168, 160, 112),
    "waterfront": (150, 156, 120),
    "forest": (110, 128, 90),
    "parking lot": (140, 140, 136),
    "desert": (206, 186, 146),
}
URBAN_SCENES = frozenset({"residential", "industrial", "parking lot"})
RURAL_SCENES = frozenset({"farmland", "forest", "desert"})


@dataclass(frozen=True)
class Difficulty:
    """Knobs of one difficulty level.

    Attributes:
        name: ``easy``, ``medium`` or ``hard``.
        scene_types: CLS classes, i.e. the scene types generated.
        roof_colors: Roof colour names available to buildings.
        max_angle: Largest building rotation in degrees (0 = axis-aligned).
        noise: Multiplier on the texture noise.
        scale: Multiplier on object sizes (smaller objects are harder).
        extra: Multiplier on object counts.
        bent_roads: Roads may have a bend.
        verbose_text: Captions and descriptions say where things are; expressions are picked at
            random among all unique ones rather than the simplest.
        jitter: Global brightness jitter (grey levels), also between the two images of a pair.
        lattice: When > 0, buildings, crop fields, roads and shorelines are axis-aligned with edges
            on a ``lattice`` x ``lattice`` grid over the image (0 = free placement). Vehicles stay
            free (they are smaller than a cell).
    """

    name: str
    scene_types: tuple[str, ...]
    roof_colors: tuple[str, ...]
    max_angle: float
    noise: float
    scale: float
    extra: float
    bent_roads: bool
    verbose_text: bool
    jitter: float
    lattice: int = 0


DIFFICULTIES: dict[str, Difficulty] = {
    "easy": Difficulty(
        "easy", ("residential", "industrial", "farmland", "waterfront"), ("red", "white"),
        0.0, 0.6, 1.0, 1.0, False, False, 0.0,
    ),
    "medium": Difficulty(
        "medium", ("residential", "industrial", "farmland", "waterfront", "forest", "parking lot"),
        ("red", "white", "orange", "gray"), 20.0, 1.0, 0.8, 1.3, True, True, 6.0,
    ),
    "hard": Difficulty(
        "hard", ("residential", "industrial", "farmland", "waterfront", "forest", "parking lot", "desert"),
        tuple(ROOF_COLORS), 90.0, 1.5, 0.65, 1.6, True, True, 14.0,
    ),
}


@dataclass
class SceneObject:
    """One drawable object.

    Attributes:
        cls: Semantic class (a name of ``CLASS_NAMES``).
        shape: ``polygon`` (points are the vertices) or ``line`` (points are the polyline, ``width`` px).
        points: Vertices in pixel coordinates.
        color: Fill colour.
        color_name: Roof colour name for buildings, else None.
        width: Line width for roads.
    """

    cls: str
    shape: str
    points: list[tuple[float, float]]
    color: tuple[int, int, int]
    color_name: str | None = None
    width: int = 0


@dataclass
class Instance:
    """A rendered object: its visible pixels' box and area."""

    index: int  # position in Scene.objects; instance id is index + 1
    cls: str
    color_name: str | None
    box: tuple[int, int, int, int]  # pixel xyxy, x2/y2 exclusive
    area: int

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)


@dataclass
class Scene:
    """A scene before rendering: its type, objects, occupancy and texture noise."""

    size: int
    scene_type: str
    objects: list[SceneObject]
    occupied: np.ndarray  # (S, S) bool: pixels reserved by objects, roads included
    fine_noise: np.ndarray  # (S, S) float32
    coarse_noise: np.ndarray  # (S, S) float32
    brightness: float = 0.0


@dataclass
class Rendered:
    """Rendered scene: RGB image, label map, instance map and per-object instances."""

    rgb: np.ndarray  # (S, S, 3) uint8
    labels: np.ndarray  # (S, S) uint8, values index CLASS_NAMES
    instance_ids: np.ndarray  # (S, S) uint8, 0 = none, k = objects[k - 1]
    instances: list[Instance] = field(default_factory=list)


def rotated_rect(cx: float, cy: float, w: float, h: float, angle_deg: float) -> list[tuple[float, float]]:
    """Vertices of a ``w`` x ``h`` rectangle centred at (cx, cy), rotated by ``angle_deg``."""
    a = math.radians(angle_deg)
    ca, sa = math.cos(a), math.sin(a)
    corners = ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2))
    return [(cx + x * ca - y * sa, cy + x * sa + y * ca) for x, y in corners]


def blob(gen: np.random.Generator, cx: float, cy: float, rx: float, ry: float, n: int = 18):
    """Vertices of an irregular ellipse-like blob (radius jitter smoothed around the ring)."""
    jitter = gen.normal(0.0, 0.15, n)
    jitter = 0.25 * np.roll(jitter, 1) + 0.5 * jitter + 0.25 * np.roll(jitter, -1)
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    r = 1.0 + np.clip(jitter, -0.3, 0.3)
    return [(float(cx + rx * ri * math.cos(ti)), float(cy + ry * ri * math.sin(ti))) for ri, ti in zip(r, t)]


def _bbox(points: list[tuple[float, float]]) -> tuple[int, int, int, int]:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return math.floor(min(xs)), math.floor(min(ys)), math.ceil(max(xs)) + 1, math.ceil(max(ys)) + 1


def _free(occupied: np.ndarray, box: tuple[int, int, int, int], margin: int, border: int = 1) -> bool:
    s = occupied.shape[0]
    x1, y1, x2, y2 = box
    if x1 < border or y1 < border or x2 > s - border or y2 > s - border:
        return False
    return not occupied[max(0, y1 - margin) : y2 + margin, max(0, x1 - margin) : x2 + margin].any()


def _reserve(occupied: np.ndarray, box: tuple[int, int, int, int]) -> None:
    x1, y1, x2, y2 = box
    occupied[max(0, y1) : y2, max(0, x1) : x2] = True


def try_place(
    gen: np.random.Generator,
    occupied: np.ndarray,
    make,
    tries: int = 30,
    margin: int = 2,
    border: int = 1,
) -> list[tuple[float, float]] | None:
    """Draw candidate polygons from ``make(gen)`` until one fits in free space; reserve its box.

    ``border`` is the pixel band along the image edge that a box may not enter.
    """
    for _ in range(tries):
        points = make(gen)
        box = _bbox(points)
        if _free(occupied, box, margin, border):
            _reserve(occupied, box)
            return points
    return None


class SceneBuilder:
    """Composes one scene of a given type at a given difficulty."""

    def __init__(self, gen: np.random.Generator, size: int, difficulty: Difficulty):
        self.gen, self.s, self.d = gen, size, difficulty
        self.occupied = np.zeros((size, size), dtype=bool)
        self.objects: list[SceneObject] = []
        self.roads: list[SceneObject] = []

    def _count(self, lo: int, hi: int) -> int:
        hi = max(lo, round(hi * self.d.extra))
        return int(self.gen.integers(lo, hi + 1))

    def _angle(self) -> float:
        return float(self.gen.uniform(-self.d.max_angle, self.d.max_angle)) if self.d.max_angle else 0.0

    def add_road(self) -> None:
        s, g = self.s, self.gen
        width = max(3, round(s * g.uniform(0.05, 0.075) * max(self.d.scale, 0.8)))
        horizontal = bool(g.integers(2))
        a = float(g.uniform(0.2, 0.8) * s)
        b = float(g.uniform(0.2, 0.8) * s) if self.d.bent_roads else a
        if self.d.lattice:
            # One cell wide along an inner lattice row or column; PIL's width-w line centred on
            # k * cell + cell / 2 - 0.5 fills exactly pixels k * cell .. (k + 1) * cell - 1.
            cell = s // self.d.lattice
            width = cell
            a = b = int(g.integers(1, self.d.lattice - 1)) * cell + cell / 2 - 0.5
        mid = float(g.uniform(0.35, 0.65) * s)
        if horizontal:
            pts = [(-width, a), (mid, a), (mid, b), (s + width, b)] if a != b else [(-width, a), (s + width, a)]
        else:
            pts = [(a, -width), (a, mid), (b, mid), (b, s + width)] if a != b else [(a, -width), (a, s + width)]
        road = SceneObject("road", "line", pts, CLASS_COLORS["road"], width=width)
        mask = Image.new("L", (s, s), 0)
        ImageDraw.Draw(mask).line(pts, fill=1, width=width + 4)
        self.occupied |= np.asarray(mask, dtype=bool)
        self.objects.append(road)
        self.roads.append(road)

    def add_shore(self) -> None:
        """A water body along one edge with a wavy shoreline (straight, on a lattice line, on a lattice)."""
        s, g = self.s, self.gen
        depth = g.uniform(0.28, 0.42) * s
        if self.d.lattice:
            cell = s // self.d.lattice
            d = max(1, round(depth / cell)) * cell
            side = int(g.integers(4))
            x1, y1, x2, y2 = ((0, 0, s, d), (0, s - d, s, s), (0, 0, d, s), (s - d, 0, s, s))[side]
            pts = [(x1, y1), (x2 - 1, y1), (x2 - 1, y2 - 1), (x1, y2 - 1)]
            self.objects.append(SceneObject("water", "polygon", pts, CLASS_COLORS["water"]))
            _reserve(self.occupied, (x1 - 3, y1 - 3, x2 + 3, y2 + 3))
            return
        n = 8
        wave = g.uniform(-0.05, 0.05, n + 1) * s
        side = int(g.integers(4))
        line = [(i * s / n, depth + float(wave[i])) for i in range(n + 1)]  # along x, depth in y
        pts = [(-1.0, -1.0), (s + 1.0, -1.0)] + [(x, y) for x, y in reversed(line)]
        pts = [(x, y) if side == 0 else (x, s - y) if side == 1 else (y, x) if side == 2 else (s - y, x)
               for x, y in pts]
        self.objects.append(SceneObject("water", "polygon", pts, CLASS_COLORS["water"]))
        x1, y1, x2, y2 = _bbox(pts)
        _reserve(self.occupied, (x1 - 3, y1 - 3, x2 + 3, y2 + 3))

    def add_blobs(self, cls: str, count: int, rmin: float, rmax: float) -> None:
        s, g = self.s, self.gen
        for _ in range(count):
            def make(gen, rmin=rmin, rmax=rmax):
                rx = gen.uniform(rmin, rmax) * s * self.d.scale
                ry = rx * gen.uniform(0.6, 1.0)
                return blob(gen, gen.uniform(0, s), gen.uniform(0, s), rx, ry)

            pts = try_place(g, self.occupied, make, margin=3)
            if pts is not None:
                self.objects.append(SceneObject(cls, "polygon", pts, CLASS_COLORS[cls]))

    def add_fields(self, count: int) -> None:
        """Farmland: large axis-aligned crop fields (vegetation) and fallow fields (bare land)."""
        s, g = self.s, self.gen
        for i in range(count):
            cls = "bare land" if i % 3 == 2 else "vegetation"

            def make(gen):
                w, h = gen.uniform(0.25, 0.45, 2) * s
                if self.d.lattice:
                    return self._lattice_rect(gen, w, h)
                return rotated_rect(gen.uniform(0, s), gen.uniform(0, s), w, h, 0.0)

            pts = try_place(g, self.occupied, make, margin=3, border=0 if self.d.lattice else 1)
            if pts is not None:
                self.objects.append(SceneObject(cls, "polygon", pts, CLASS_COLORS[cls]))

    def add_buildings(self, count: int, lo: float, hi: float, colors: tuple[str, ...] | None = None) -> None:
        s, g = self.s, self.gen
        palette = colors or self.d.roof_colors
        for _ in range(count):
            def make(gen):
                w = gen.uniform(lo, hi) * s * self.d.scale
                h = w * gen.uniform(0.55, 1.0)
                if self.d.lattice:
                    return self._lattice_rect(gen, w, h)
                return rotated_rect(gen.uniform(0, s), gen.uniform(0, s), w, h, self._angle())

            # Lattice cells may touch the image edge: the edge is a lattice line.
            pts = try_place(g, self.occupied, make, margin=max(2, s // 40), border=0 if self.d.lattice else 1)
            if pts is not None:
                name = palette[int(g.integers(len(palette)))]
                self.objects.append(SceneObject("building", "polygon", pts, ROOF_COLORS[name], color_name=name))

    def _lattice_rect(self, gen: np.random.Generator, w: float, h: float) -> list[tuple[float, float]]:
        """A ``w`` x ``h`` rectangle snapped to whole lattice cells at a random cell position."""
        n, cell = self.d.lattice, self.s / self.d.lattice
        wc = int(min(n, max(1, round(w / cell))))
        hc = int(min(n, max(1, round(h / cell))))
        if gen.integers(2):
            wc, hc = hc, wc
        cx, cy = int(gen.integers(0, n - wc + 1)), int(gen.integers(0, n - hc + 1))
        x1, y1 = round(cx * cell), round(cy * cell)
        x2, y2 = round((cx + wc) * cell), round((cy + hc) * cell)
        # PIL fills a polygon's boundary pixels, so the last pixel column/row is x2 - 1 / y2 - 1.
        return [(x1, y1), (x2 - 1, y1), (x2 - 1, y2 - 1), (x1, y2 - 1)]

    def add_vehicles(self, count: int) -> None:
        s, g = self.s, self.gen
        length = max(4.0, 0.07 * s * self.d.scale)
        width = max(2.0, length * 0.5)
        taken = np.zeros_like(self.occupied)
        for _ in range(count):
            if self.roads:
                road = self.roads[int(g.integers(len(self.roads)))]

                def make(gen, road=road):
                    seg = int(gen.integers(len(road.points) - 1))
                    (xa, ya), (xb, yb) = road.points[seg], road.points[seg + 1]
                    t = gen.uniform(0.1, 0.9)
                    ang = math.degrees(math.atan2(yb - ya, xb - xa))
                    lane = (road.width / 4) * (1 if gen.integers(2) else -1)
                    nx, ny = -math.sin(math.radians(ang)), math.cos(math.radians(ang))
                    cx, cy = xa + t * (xb - xa) + lane * nx, ya + t * (yb - ya) + lane * ny
                    return rotated_rect(cx, cy, length, width, ang)

                pts = try_place(g, taken, make, margin=2)
            else:
                def make(gen):
                    return rotated_rect(gen.uniform(0, s), gen.uniform(0, s), length, width, self._angle())

                pts = try_place(g, self.occupied | taken, make, margin=2)
            if pts is not None:
                _reserve(self.occupied, _bbox(pts))
                self.objects.append(SceneObject("vehicle", "polygon", pts, CLASS_COLORS["vehicle"]))

    def build(self, scene_type: str) -> Scene:
        g, d = self.gen, self.d
        if scene_type == "residential":
            self.add_road()
            self.add_buildings(self._count(3, 5), 0.12, 0.2)
            self.add_vehicles(self._count(0, 1))
            if d.name != "easy":
                self.add_blobs("vegetation", self._count(0, 2), 0.05, 0.09)
        elif scene_type == "industrial":
            self.add_road()
            self.add_buildings(self._count(1, 2), 0.24, 0.34, colors=("white", "gray") if d.name != "easy" else ("white",))
            self.add_vehicles(self._count(2, 4))
        elif scene_type == "farmland":
            self.add_fields(self._count(2, 3))
            self.add_buildings(1, 0.1, 0.14)
            if d.name != "easy":
                self.add_road()
        elif scene_type == "waterfront":
            self.add_shore()
            self.add_buildings(self._count(1, 3), 0.12, 0.2)
            if d.name != "easy" and g.integers(2):
                self.add_blobs("vegetation", 1, 0.05, 0.09)
        elif scene_type == "forest":
            self.add_buildings(1, 0.1, 0.14)
            self.add_blobs("vegetation", self._count(4, 6), 0.12, 0.2)
        elif scene_type == "parking lot":
            self.add_road()
            self.add_buildings(1, 0.16, 0.22)
            self.add_blobs("bare land", 1, 0.08, 0.12)
            self.add_vehicles(self._count(5, 8))
        elif scene_type == "desert":
            self.add_buildings(self._count(1, 2), 0.1, 0.14)
            self.add_blobs("bare land", self._count(2, 4), 0.12, 0.22)
        else:
            raise ValueError(f"unknown scene type {scene_type!r}, expected one of {d.scene_types}")
        # Draw order: large ground cover first, vehicles last (they sit on roads).
        order = {"water": 0, "bare land": 1, "vegetation": 2, "road": 3, "building": 4, "vehicle": 5}
        self.objects.sort(key=lambda o: order[o.cls])
        s = self.s
        coarse_small = g.standard_normal((s // 8 + 2, s // 8 + 2)).astype(np.float32)
        coarse = np.asarray(Image.fromarray(coarse_small, mode="F").resize((s, s), Image.BILINEAR))
        fine = g.standard_normal((s, s), dtype=np.float32)
        brightness = float(g.uniform(-d.jitter, d.jitter)) if d.jitter else 0.0
        return Scene(s, scene_type, self.objects, self.occupied, fine, coarse, brightness)


def make_scene(gen: np.random.Generator, size: int, difficulty: Difficulty) -> Scene:
    """Pick a scene type uniformly and compose it."""
    scene_type = difficulty.scene_types[int(gen.integers(len(difficulty.scene_types)))]
    return SceneBuilder(gen, size, difficulty).build(scene_type)


def render(scene: Scene, difficulty: Difficulty) -> Rendered:
    """Rasterise a scene into RGB, label and instance maps and measure every instance."""
    s = scene.size
    rgb = Image.new("RGB", (s, s), GROUND_COLORS[scene.scene_type])
    lab = Image.new("L", (s, s), 0)
    ins = Image.new("L", (s, s), 0)
    draw_rgb, draw_lab, draw_ins = ImageDraw.Draw(rgb), ImageDraw.Draw(lab), ImageDraw.Draw(ins)
    for k, obj in enumerate(scene.objects):
        value = CLASS_INDEX[obj.cls]
        if obj.shape == "line":
            for draw, fill in ((draw_rgb, obj.color), (draw_lab, value), (draw_ins, k + 1)):
                draw.line(obj.points, fill=fill, width=obj.width)
        else:
            for draw, fill in ((draw_rgb, obj.color), (draw_lab, value), (draw_ins, k + 1)):
                draw.polygon(obj.points, fill=fill)
            if obj.cls == "building":
                # A darker ridge along the long axis makes roofs read as roofs, not paint.
                p = obj.points
                long_first = math.dist(p[0], p[1]) >= math.dist(p[1], p[2])
                a, b = ((p[0], p[3]), (p[1], p[2])) if long_first else ((p[0], p[1]), (p[3], p[2]))
                m1 = ((a[0][0] + a[1][0]) / 2, (a[0][1] + a[1][1]) / 2)
                m2 = ((b[0][0] + b[1][0]) / 2, (b[0][1] + b[1][1]) / 2)
                ridge = tuple(max(0, int(c * 0.8)) for c in obj.color)
                draw_rgb.line([m1, m2], fill=ridge, width=max(1, s // 112))
    labels = np.asarray(lab, dtype=np.uint8)
    ids = np.asarray(ins, dtype=np.uint8)
    amp = NOISE_AMPLITUDE[labels] * difficulty.noise  # (S, S, 2)
    shade = amp[..., 0] * scene.fine_noise + amp[..., 1] * scene.coarse_noise + scene.brightness  # (S, S)
    out = np.clip(np.asarray(rgb, dtype=np.float32) + shade[..., None], 0, 255).astype(np.uint8)  # (S, S, 3)
    instances = []
    for k, obj in enumerate(scene.objects):
        x1, y1, x2, y2 = _bbox(obj.points) if obj.shape == "polygon" else (0, 0, s, s)
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(s, x2), min(s, y2)
        sub = ids[y1:y2, x1:x2] == k + 1
        if not sub.any():
            continue
        rows = np.flatnonzero(sub.any(axis=1))
        cols = np.flatnonzero(sub.any(axis=0))
        box = (x1 + int(cols[0]), y1 + int(rows[0]), x1 + int(cols[-1]) + 1, y1 + int(rows[-1]) + 1)
        instances.append(Instance(k, obj.cls, obj.color_name, box, int(sub.sum())))
    return Rendered(out, labels, ids, instances)


def change_scene(
    gen: np.random.Generator, scene: Scene, difficulty: Difficulty
) -> tuple[Scene, str, list[int], int] | None:
    """Derive the "after" scene of a change pair by adding or removing buildings.

    Returns:
        ``(after, kind, changed, count)``: kind is ``added`` or ``removed``; ``changed`` lists
        object indices of the changed buildings in the scene that holds them (after for added,
        before for removed); ``count`` is how many changed. None when the scene has neither room
        for a new building nor a building to remove (the caller counts the pair as skipped).
    """
    buildings = [k for k, o in enumerate(scene.objects) if o.cls == "building"]
    want = int(gen.integers(1, 3))
    remove_first = bool(buildings) and bool(gen.integers(2))
    brightness = scene.brightness + (float(gen.uniform(-difficulty.jitter, difficulty.jitter)) / 2
                                     if difficulty.jitter else 0.0)
    if not remove_first:
        builder = SceneBuilder(gen, scene.size, difficulty)
        builder.occupied = scene.occupied.copy()
        builder.add_buildings(want, 0.12, 0.2)
        new = builder.objects
        if new:
            after = replace(scene, objects=list(scene.objects) + new, occupied=builder.occupied,
                            brightness=brightness)
            n_old = len(scene.objects)
            return after, "added", list(range(n_old, n_old + len(new))), len(new)
        if not buildings:
            return None
    # Crowded scenes with no room for a new building fall through to a removal.
    removed = sorted(int(k) for k in gen.choice(buildings, size=min(want, len(buildings)), replace=False))
    objects = [o for k, o in enumerate(scene.objects) if k not in removed]
    return replace(scene, objects=objects, brightness=brightness), "removed", removed, len(removed)
