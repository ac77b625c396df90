"""Seeded synthetic two-object scenes: the offline demo world.

Every scene is a 128x128 RGB image on a textured, noisy background with two
objects of different shape classes (see ``CLASSES``), 20-45 px across, placed
at random without overlapping.  Each scene carries its labels and the pixel box
of every drawn shape.  A scene depends only on ``(seed, index)``, so a data set
is the same whichever process or how many processes build it.

Boxes are ``(x0, y0, x1, y1)`` in pixels with ``x1``/``y1`` exclusive, i.e. the
shape's pixels are exactly inside ``image[y0:y1, x0:x1]`` (the tight box of its
mask).

A *bias* adds a background cue (a patch of diagonal stripes) that goes with one
class: with probability ``p_with`` when the scene contains the class, and with
probability ``p_without`` when it does not.  A network trained on such a biased
copy learns the shortcut, the Grad-CAM paper's doctor/nurse experiment in
miniature: its explanations point at the stripes, and its accuracy on unbiased
scenes shows the cost.  The cue is drawn after the objects from its own random
stream, so ``make_scene(seed, i, bias)`` is ``make_scene(seed, i)`` plus the cue.

This module imports nothing from Django (or torch).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    "CLASSES",
    "SIZE",
    "GENERATOR_VERSION",
    "Bias",
    "DEFAULT_BIAS",
    "Scene",
    "make_scene",
    "apply_bias",
    "make_dataset",
    "write_image_folder",
    "read_labels_csv",
    "format_labels",
    "format_boxes",
    "parse_boxes",
    "concept_masks",
    "CUE_PREFIX",
]

#: The six shape classes, in the order of the model outputs.
CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "ring")
#: Image side in pixels.
SIZE = 128
#: Bumped whenever a change to this module changes the pixels of any scene.
GENERATOR_VERSION = 1

MIN_OBJ = 20
MAX_OBJ = 45

_BIAS_STREAM = 0xB1A5  # extra entropy word for the bias cue's random stream


Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Bias:
    """A background cue that goes with one class (see the module docstring)."""

    label: str = "star"
    p_with: float = 0.95
    p_without: float = 0.02
    cue: str = "stripes"

    def __post_init__(self):
        if self.label not in CLASSES:
            raise ValueError(f"unknown class {self.label!r}; expected one of {CLASSES}")
        if self.cue != "stripes":
            raise ValueError(f"unknown cue {self.cue!r}; only 'stripes' exists")
        for name in ("p_with", "p_without"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {p}")

    def as_dict(self) -> dict:
        return {"label": self.label, "p_with": self.p_with, "p_without": self.p_without, "cue": self.cue}


#: The bias used for the demo's weak network.
DEFAULT_BIAS = Bias()


@dataclass
class Scene:
    """One generated scene."""

    image: np.ndarray  # uint8, (SIZE, SIZE, 3)
    labels: list[str]  # two distinct class names, in drawing order
    boxes: dict[str, Box]  # label -> (x0, y0, x1, y1), x1/y1 exclusive
    seed: int = 0
    index: int = 0
    cue_box: Box | None = None  # where the bias cue was drawn, if any
    bias: dict | None = field(default=None)  # the Bias that was applied (as a dict)
    masks: dict[str, np.ndarray] | None = field(default=None, repr=False)  # label -> bool (H, W), if asked

    def target(self) -> np.ndarray:
        """Multi-hot float32 vector over ``CLASSES``."""
        t = np.zeros(len(CLASSES), dtype=np.float32)
        for label in self.labels:
            t[CLASSES.index(label)] = 1.0
        return t


def _coerce_bias(bias) -> Bias | None:
    if bias is None or isinstance(bias, Bias):
        return bias
    if isinstance(bias, str):
        return Bias(label=bias)
    if isinstance(bias, dict):
        return Bias(**bias)
    raise TypeError(f"bias must be None, a Bias, a class name or a dict, not {type(bias).__name__}")


# ---------------------------------------------------------------------------
# Background


def _smooth_noise(rng: np.random.Generator, cells: int, channels: int) -> np.ndarray:
    """Low-frequency noise in about [-1, 1], shape (channels, SIZE, SIZE)."""
    out = np.empty((channels, SIZE, SIZE), dtype=np.float32)
    for c in range(channels):
        grid = rng.random((cells, cells), dtype=np.float32)
        out[c] = np.asarray(Image.fromarray(grid, mode="F").resize((SIZE, SIZE), Image.BICUBIC))
    out *= 2.0
    out -= 1.0
    return out


def _background(rng: np.random.Generator) -> np.ndarray:
    """Textured, noisy background as float32 (3, SIZE, SIZE) in about 0..255."""
    base = rng.uniform(60, 170, size=3).astype(np.float32)
    # A muted base colour: pull the channels toward their mean.
    base = base.mean() + (base - base.mean()) * np.float32(rng.uniform(0.2, 0.7))
    bg = _smooth_noise(rng, int(rng.integers(3, 6)), 3)
    bg *= np.float32(rng.uniform(20, 45))
    bg += base[:, None, None]
    fine = _smooth_noise(rng, int(rng.integers(12, 24)), 1)[0]
    fine *= np.float32(rng.uniform(8, 20))
    gx, gy = rng.uniform(-25, 25, size=2)
    lin = np.linspace(-0.5, 0.5, SIZE, dtype=np.float32)
    fine += lin[None, :] * np.float32(gx)
    fine += lin[:, None] * np.float32(gy)
    # Clutter: a few faint thin lines, so edges alone do not mean "object".
    clutter = Image.new("L", (SIZE, SIZE), 0)
    draw = ImageDraw.Draw(clutter)
    for _ in range(int(rng.integers(2, 6))):
        x0, y0, x1, y1 = (int(v) for v in rng.integers(0, SIZE, size=4))
        draw.line((x0, y0, x1, y1), fill=255, width=int(rng.integers(1, 3)))
    fine += np.asarray(clutter, dtype=np.float32) * np.float32(rng.uniform(-35, 35) / 255.0)
    bg += fine[None]
    return bg


# ---------------------------------------------------------------------------
# Shapes


def _rotated(points: np.ndarray, angle: float, cx: float, cy: float) -> list[tuple[float, float]]:
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    pts = points @ rot.T + np.array([cx, cy])
    return [tuple(p) for p in pts]


def _regular(n: int, radius: float, phase: float = -math.pi / 2) -> np.ndarray:
    a = phase + np.arange(n) * 2 * math.pi / n
    return np.stack([np.cos(a), np.sin(a)], axis=1) * radius


def _draw_shape(draw: ImageDraw.ImageDraw, label: str, cx: float, cy: float, size: float, angle: float):
    """Draw a filled shape of extent ``size`` (circumscribed diameter) into a mask."""
    r = size / 2.0
    if label == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
    elif label == "ring":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
        ri = r * 0.55
        draw.ellipse((cx - ri, cy - ri, cx + ri, cy + ri), fill=0)
    elif label == "square":
        draw.polygon(_rotated(_regular(4, r, math.pi / 4), angle, cx, cy), fill=255)
    elif label == "triangle":
        draw.polygon(_rotated(_regular(3, r), angle, cx, cy), fill=255)
    elif label == "star":
        outer = _regular(5, r)
        inner = _regular(5, r * 0.42, -math.pi / 2 + math.pi / 5)
        pts = np.empty((10, 2))
        pts[0::2], pts[1::2] = outer, inner
        draw.polygon(_rotated(pts, angle, cx, cy), fill=255)
    elif label == "cross":
        a, t = r * 0.95, r * 0.33
        pts = np.array(
            [(-t, -a), (t, -a), (t, -t), (a, -t), (a, t), (t, t), (t, a), (-t, a), (-t, t), (-a, t), (-a, -t), (-t, -t)]
        )
        draw.polygon(_rotated(pts, angle, cx, cy), fill=255)
    else:  # pragma: no cover - guarded by CLASSES
        raise ValueError(label)


def _object_colour(rng: np.random.Generator, bg_mean: np.ndarray) -> np.ndarray:
    """A saturated colour that stands out from the background under it."""
    best, best_d = None, -1.0
    for _ in range(12):
        h = rng.random()
        s = rng.uniform(0.55, 1.0)
        v = rng.uniform(0.45, 1.0)
        i = int(h * 6) % 6
        f = h * 6 - int(h * 6)
        p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
        rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
        col = np.array(rgb, dtype=np.float32) * 255.0
        d = float(np.linalg.norm(col - bg_mean))
        if d > 110:
            return col
        if d > best_d:
            best, best_d = col, d
    return best


def _place(rng: np.random.Generator, sizes: list[int]) -> list[tuple[float, float]]:
    """Centres for shapes of the given extents, inside the image and not overlapping."""
    for _ in range(200):
        centres = []
        for s in sizes:
            r = s / 2.0
            cx, cy = rng.uniform(r + 1, SIZE - r - 1, size=2)
            centres.append((float(cx), float(cy)))
        (x0, y0), (x1, y1) = centres
        if math.hypot(x0 - x1, y0 - y1) >= (sizes[0] + sizes[1]) / 2.0 + 2:
            return centres
    # Fallback that always fits: opposite corners.
    r0, r1 = sizes[0] / 2 + 1, sizes[1] / 2 + 1
    return [(r0, r0), (SIZE - r1, SIZE - r1)]


def _scene_rng(seed: int, index: int, *extra: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(seed) >> 32, int(index), *extra])


def make_scene(seed: int, index: int, bias=None, *, with_masks: bool = False) -> Scene:
    """Scene number ``index`` of the world seeded with ``seed``.

    ``bias`` (a :class:`Bias`, a class name, a dict of Bias fields, or None)
    adds the background cue; the objects and background are those of the
    unbiased scene.  ``with_masks`` also returns each shape's boolean mask
    (``Scene.masks``), whose tight box is ``Scene.boxes[label]``.
    """
    if index < 0 or seed < 0:
        raise ValueError("seed and index must be non-negative")
    rng = _scene_rng(seed, index)
    bg = _background(rng)
    k0, k1 = rng.choice(len(CLASSES), size=2, replace=False)
    labels = [CLASSES[int(k0)], CLASSES[int(k1)]]
    sizes = [int(rng.integers(MIN_OBJ, MAX_OBJ + 1)) for _ in labels]
    centres = _place(rng, sizes)

    img = bg  # float32 (3, SIZE, SIZE)
    boxes: dict[str, Box] = {}
    masks: dict[str, np.ndarray] = {}
    for label, size, (cx, cy) in zip(labels, sizes, centres):
        mask_img = Image.new("L", (SIZE, SIZE), 0)
        _draw_shape(ImageDraw.Draw(mask_img), label, cx, cy, size, float(rng.uniform(0, 2 * math.pi)))
        bbox = mask_img.getbbox()
        x0, y0, x1, y1 = bbox
        mask = np.asarray(mask_img.crop(bbox), dtype=np.float32)[None] / np.float32(255.0)
        region = img[:, y0:y1, x0:x1]
        col = _object_colour(rng, region.reshape(3, -1).mean(axis=1))
        # Slight shading across the object, so it is not a flat patch.
        grid = rng.random((3, 3), dtype=np.float32)
        shade = np.asarray(Image.fromarray(grid, mode="F").resize((x1 - x0, y1 - y0), Image.BILINEAR))
        shade = (shade[None] * np.float32(2.0) - np.float32(1.0)) * np.float32(rng.uniform(5, 20))
        img[:, y0:y1, x0:x1] = region * (1.0 - mask) + (col[:, None, None] + shade) * mask
        boxes[label] = (int(x0), int(y0), int(x1), int(y1))
        if with_masks:
            masks[label] = np.asarray(mask_img) >= 128

    # Pixel noise (uniform, cheaper than Gaussian and just as good here).
    amp = np.float32(rng.uniform(7, 20))
    noise = rng.random(size=img.shape, dtype=np.float32)
    noise -= 0.5
    noise *= 2 * amp
    img += noise
    img += 0.5
    np.clip(img, 0, 255, out=img)
    image = np.ascontiguousarray(img.astype(np.uint8).transpose(1, 2, 0))
    scene = Scene(
        image=image, labels=labels, boxes=boxes, seed=int(seed), index=int(index), masks=masks if with_masks else None
    )
    bias = _coerce_bias(bias)
    if bias is not None:
        scene = apply_bias(scene, bias)
    return scene


def _stripes_patch(rng: np.random.Generator, side: int) -> np.ndarray:
    """High-contrast diagonal stripes, float32 (side, side, 3)."""
    period = 6.0
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    phase = rng.uniform(0, period)
    wave = np.sin(2 * math.pi * (xx + yy + phase) / period)
    dark = np.array([25, 25, 25], np.float32) + rng.uniform(-10, 10, size=3).astype(np.float32)
    light = np.array([235, 235, 235], np.float32) + rng.uniform(-10, 10, size=3).astype(np.float32)
    t = (wave > 0).astype(np.float32)[..., None]
    return dark * (1 - t) + light * t


def apply_bias(scene: Scene, bias=DEFAULT_BIAS) -> Scene:
    """A copy of ``scene`` with the bias cue drawn (or not) by the bias's rule.

    The decision and the cue's place come from the scene's own (seed, index),
    so the biased copy of a data set is deterministic too.  The cue is put
    where it does not touch either object's box.
    """
    bias = _coerce_bias(bias)
    rng = _scene_rng(scene.seed, scene.index, _BIAS_STREAM)
    p = bias.p_with if bias.label in scene.labels else bias.p_without
    draw_cue = rng.random() < p
    side = int(rng.integers(22, 31))
    out = Scene(
        image=scene.image.copy(),
        labels=list(scene.labels),
        boxes=dict(scene.boxes),
        seed=scene.seed,
        index=scene.index,
        cue_box=None,
        bias=bias.as_dict(),
        masks=scene.masks,
    )
    if not draw_cue:
        return out
    margin = 2
    for _ in range(300):
        x0, y0 = (int(v) for v in rng.integers(0, SIZE - side + 1, size=2))
        x1, y1 = x0 + side, y0 + side
        if all(
            x1 + margin <= bx0 or bx1 + margin <= x0 or y1 + margin <= by0 or by1 + margin <= y0
            for bx0, by0, bx1, by1 in scene.boxes.values()
        ):
            break
    else:
        return out  # no free room (rare): no cue
    patch = _stripes_patch(rng, side)
    noise = rng.normal(0.0, 6.0, size=patch.shape).astype(np.float32)
    out.image[y0:y1, x0:x1] = np.clip(np.rint(patch + noise), 0, 255).astype(np.uint8)
    out.cue_box = (x0, y0, x1, y1)
    return out


def make_dataset(n: int, seed: int, bias=None, start: int = 0):
    """``n`` scenes with indices ``start .. start+n-1``.

    Returns ``(images, targets, scenes)``: uint8 (n, SIZE, SIZE, 3), float32
    multi-hot (n, len(CLASSES)), and the list of :class:`Scene`.
    """
    bias = _coerce_bias(bias)
    images = np.empty((n, SIZE, SIZE, 3), dtype=np.uint8)
    targets = np.zeros((n, len(CLASSES)), dtype=np.float32)
    scenes = []
    for i in range(n):
        scene = make_scene(seed, start + i, bias)
        images[i] = scene.image
        targets[i] = scene.target()
        scenes.append(scene)
    return images, targets, scenes


# ---------------------------------------------------------------------------
# The platform's import format


def format_labels(labels) -> str:
    return ";".join(labels)


#: Box label prefix of a cue concept's region in ``labels.csv`` (the platform's import format).
CUE_PREFIX = "cue:"


def format_boxes(boxes: dict[str, Box], cue: tuple[str, Box] | None = None) -> str:
    """``label:x0,y0,x1,y1;label:x0,y0,x1,y1``, then ``cue:<name>:x0,y0,x1,y1`` for a drawn cue."""
    parts = [f"{label}:{x0},{y0},{x1},{y1}" for label, (x0, y0, x1, y1) in boxes.items()]
    if cue is not None:
        name, (x0, y0, x1, y1) = cue
        parts.append(f"{CUE_PREFIX}{name}:{x0},{y0},{x1},{y1}")
    return ";".join(parts)


def scene_cue(scene: Scene) -> tuple[str, Box] | None:
    """(cue name, box) of the cue drawn into the scene, or None."""
    if scene.cue_box is None or not scene.bias:
        return None
    return scene.bias["cue"], scene.cue_box


def concept_masks(scene: Scene) -> dict[str, np.ndarray]:
    """Boolean (SIZE, SIZE) masks of the scene's concepts: each shape's exact mask (the scene must be
    made ``with_masks=True``) and the cue's patch, named by the cue ("stripes")."""
    if scene.masks is None:
        raise ValueError("make the scene with_masks=True to get its concept masks")
    out = dict(scene.masks)
    cue = scene_cue(scene)
    if cue is not None:
        name, (x0, y0, x1, y1) = cue
        m = np.zeros((SIZE, SIZE), dtype=bool)
        m[y0:y1, x0:x1] = True
        out[name] = m
    return out


def parse_boxes(text: str) -> list[tuple[str, Box]]:
    """Inverse of :func:`format_boxes` (a list, since a label may repeat in general)."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        label, _, coords = part.rpartition(":")
        nums = tuple(int(v) for v in coords.split(","))
        if not label or len(nums) != 4:
            raise ValueError(f"bad box {part!r}; expected label:x0,y0,x1,y1")
        out.append((label.strip(), nums))
    return out


def write_image_folder(directory, n: int, seed: int, bias=None, start: int = 0) -> Path:
    """Write ``n`` scenes as PNG files plus ``labels.csv`` into ``directory``.

    ``labels.csv`` has the header ``filename,labels,boxes``; labels are joined
    by ``;`` and boxes written as ``label:x0,y0,x1,y1;...``.  Returns the path
    of ``labels.csv``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    width = max(5, len(str(start + n - 1)))
    csv_path = directory / "labels.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["filename", "labels", "boxes"])
        for i in range(start, start + n):
            scene = make_scene(seed, i, bias)
            name = f"scene_{i:0{width}d}.png"
            Image.fromarray(scene.image).save(directory / name, optimize=False)
            writer.writerow([name, format_labels(scene.labels), format_boxes(scene.boxes, scene_cue(scene))])
    return csv_path


def read_labels_csv(path) -> list[tuple[str, list[str], list[tuple[str, Box]]]]:
    """Read a ``labels.csv`` back: ``[(filename, labels, [(label, box), ...]), ...]``."""
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != ["filename", "labels", "boxes"]:
            raise ValueError(f"unexpected header {reader.fieldnames}")
        for row in reader:
            labels = [x for x in row["labels"].split(";") if x]
            rows.append((row["filename"], labels, parse_boxes(row["boxes"])))
    return rows
