"""Display geometry: how a photograph becomes the network's input, the stimulus and the raw map.

Every place that puts a photograph's boxes onto a map or a stimulus (generation, the faithfulness
report, the simulated participants, image eligibility) asks one DisplayGeometry, so that the pixels
the network saw and the boxes the metrics use can never disagree.

Three geometries:

- ``resize_crop``: torchvision's classification transform. The shorter side is resized to
  ``resize`` and the centre ``crop`` is kept: on a non-square photograph the sides are cut off.
- ``pad_square``: the photograph is padded to a square (with ``fill``) and resized to ``crop``;
  nothing is cut off.
- ``whole``: the photograph as it is (the demo networks see the whole scene).

Boxes are ``(x0, y0, x1, y1)`` in the photograph's pixel edges.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

GEOMETRY_MODES = ("resize_crop", "pad_square", "whole")
# What a registered model may ask for; "standard" is the architecture's own transform.
DISPLAY_CHOICES = ("standard", "pad_square")


@dataclass(frozen=True)
class DisplayGeometry:
    mode: str
    resize: int = 0  # resize_crop: the shorter side becomes this many pixels
    crop: tuple[int, int] = (0, 0)  # (H, W) of the result; whole: unused
    interpolation: str = "bilinear"
    fill: tuple[int, int, int] = (0, 0, 0)  # pad_square: colour of the padding

    def __post_init__(self):
        if self.mode not in GEOMETRY_MODES:
            raise ValueError(f"unknown display geometry {self.mode!r}; known: {', '.join(GEOMETRY_MODES)}")
        object.__setattr__(self, "crop", tuple(int(v) for v in self.crop))
        object.__setattr__(self, "fill", tuple(int(v) for v in self.fill))

    # --- records ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = asdict(self)
        d["crop"], d["fill"] = list(self.crop), list(self.fill)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> DisplayGeometry:
        return cls(
            mode=data["mode"],
            resize=int(data.get("resize", 0)),
            crop=tuple(data.get("crop", (0, 0))),
            interpolation=data.get("interpolation", "bilinear"),
            fill=tuple(data.get("fill", (0, 0, 0))),
        )

    def describe(self) -> str:
        if self.mode == "resize_crop":
            return f"shorter side resized to {self.resize} px, centre {self.crop[1]}x{self.crop[0]} px kept"
        if self.mode == "pad_square":
            return f"padded to a square and resized to {self.crop[1]}x{self.crop[0]} px"
        return "the whole photograph, unchanged"

    # --- coordinates -----------------------------------------------------------------------
    def placement(self, image_size: tuple[int, int]) -> tuple[float, float, float, float, int, int]:
        """(scale_x, scale_y, offset_x, offset_y, out_w, out_h): display = photo * scale + offset.

        Follows torchvision's integer arithmetic exactly (resize truncates the longer side, the
        crop's corner is rounded, a crop larger than the image pads it).
        """
        w, h = int(image_size[0]), int(image_size[1])
        if self.mode == "whole":
            return 1.0, 1.0, 0.0, 0.0, w, h
        crop_h, crop_w = self.crop
        if self.mode == "pad_square":
            side = max(w, h, 1)
            sx, sy = crop_w / side, crop_h / side
            return sx, sy, ((side - w) // 2) * sx, ((side - h) // 2) * sy, crop_w, crop_h
        if w <= h:
            new_w, new_h = self.resize, int(self.resize * h / max(w, 1))
        else:
            new_w, new_h = int(self.resize * w / max(h, 1)), self.resize
        return (
            new_w / max(w, 1),
            new_h / max(h, 1),
            _crop_offset(new_w, crop_w),
            _crop_offset(new_h, crop_h),
            crop_w,
            crop_h,
        )

    def output_size(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """(W, H) of the stimulus for a photograph of `image_size` (W, H)."""
        return self.placement(image_size)[4:6]

    def box_on_display(self, box, image_size) -> tuple[float, float, float, float]:
        """A box in display pixels (not clipped; may lie partly or wholly outside the display)."""
        sx, sy, ox, oy, _, _ = self.placement(image_size)
        x0, y0, x1, y1 = (float(v) for v in box)
        return x0 * sx + ox, y0 * sy + oy, x1 * sx + ox, y1 * sy + oy

    def visible_fraction(self, box, image_size) -> float:
        """The share of the box's area that the display shows (1.0 for a degenerate box inside it)."""
        x0, y0, x1, y1 = self.box_on_display(box, image_size)
        _, _, _, _, out_w, out_h = self.placement(image_size)
        area = max(x1 - x0, 0.0) * max(y1 - y0, 0.0)
        cx0, cy0, cx1, cy1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(out_w)), min(y1, float(out_h))
        seen = max(cx1 - cx0, 0.0) * max(cy1 - cy0, 0.0)
        if area <= 0:
            return 1.0 if 0 <= x0 <= out_w and 0 <= y0 <= out_h else 0.0
        return seen / area

    def boxes_on_grid(self, boxes, image_size, grid_shape) -> list[tuple[int, int, int, int]]:
        """Boxes as integer pixel ranges of a map of `grid_shape` (H, W) that covers the display.

        Parts outside the display are cut off; a box wholly outside is dropped; a box inside is
        never empty (at least one map pixel).
        """
        _, _, _, _, out_w, out_h = self.placement(image_size)
        gy, gx = grid_shape[0] / max(out_h, 1), grid_shape[1] / max(out_w, 1)
        out = []
        for box in boxes:
            x0, y0, x1, y1 = self.box_on_display(box, image_size)
            x0, y0, x1, y1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(out_w)), min(y1, float(out_h))
            if x1 <= x0 or y1 <= y0:
                continue
            a0, b0 = min(int(x0 * gx), grid_shape[1] - 1), min(int(y0 * gy), grid_shape[0] - 1)
            out.append((a0, b0, max(int(math.ceil(x1 * gx)), a0 + 1), max(int(math.ceil(y1 * gy)), b0 + 1)))
        return out

    # --- pixels ----------------------------------------------------------------------------
    def apply(self, img):
        """The photograph (PIL, RGB) as the network and the participant see it (PIL)."""
        if self.mode == "whole":
            return img
        from PIL import Image
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as TF

        interpolation = InterpolationMode(self.interpolation)
        if self.mode == "pad_square":
            w, h = img.size
            side = max(w, h)
            square = Image.new("RGB", (side, side), self.fill)
            square.paste(img, ((side - w) // 2, (side - h) // 2))
            return TF.resize(square, list(self.crop), interpolation=interpolation, antialias=True)
        img = TF.resize(img, [self.resize], interpolation=interpolation, antialias=True)
        return TF.center_crop(img, list(self.crop))


def _crop_offset(size: int, crop: int) -> float:
    """Where the photo's edge lands in the crop (torchvision's center_crop, padding included)."""
    if crop > size:
        return float((crop - size) // 2)
    return -float(int(round((size - crop) / 2.0)))


WHOLE = DisplayGeometry("whole")
