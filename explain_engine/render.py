"""Rendering raw maps into PNG stimuli: a separate, versioned recipe.

Recipe 1.0.0
------------
* CAM maps (gradcam, gradcam_pp, counterfactual_gradcam) are resized to the
  photograph's size if needed (bilinear, align_corners=False), then min-max
  normalized to [0, 1] (a constant map becomes all zeros).
* ``overlay``: the normalized map through a 256-entry colormap (matplotlib
  "jet" by default, as in the paper), blended ``(1 - alpha) * photo + alpha *
  heat`` with alpha = 0.5, rounded to uint8.
* ``masked``: the photograph multiplied by the normalized map (for
  class-discrimination stimuli, which must not show the whole photograph).
* Gradient maps (guided_backprop, deconvnet, guided_gradcam, deconv_gradcam),
  shaped (3, H, W) or (H, W, 3): per-image min-max over all channels together,
  as the authors' code does, times 255, rounded.
* PNG encoded by Pillow with fixed settings, so the same input gives the same bytes.

The colormap is part of the recipe: an overlay or heatmap drawn with another colormap than jet has
the recipe version ``1.0.0+<colormap>`` (``recipe_version``), so that a stimulus's recipe version
says how its pixels were drawn and a content key built from it changes with the colormap. Masked
and gradient stimuli use no colormap and keep ``1.0.0``.
"""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from PIL import Image

RECIPE_VERSION = "1.0.0"

CAM_STYLES = ("overlay", "masked", "heatmap")
GRADIENT_STYLES = ("gradient",)
COLORMAP_STYLES = ("overlay", "heatmap")  # the styles whose pixels depend on the colormap
DEFAULT_COLORMAP = "jet"  # the paper's
COLOR_VISION_SAFE_COLORMAPS = ("cividis", "viridis")  # perceptually uniform, readable with a colour vision deficiency


def colormap_for(style: str, colormap: str = DEFAULT_COLORMAP) -> str | None:
    """The colormap that draws a stimulus of this style, or None when the style uses none."""
    return colormap if style in COLORMAP_STYLES else None


def recipe_version(style: str, colormap: str = DEFAULT_COLORMAP) -> str:
    """The recipe version of a stimulus drawn in ``style`` with ``colormap`` (jet keeps the bare version)."""
    used = colormap_for(style, colormap)
    if used is None or used == DEFAULT_COLORMAP:
        return RECIPE_VERSION
    colormap_lut(used)  # an unknown name fails here, before any stimulus is keyed with it
    return f"{RECIPE_VERSION}+{used}"


def encode_png(arr: np.ndarray) -> bytes:
    arr = np.ascontiguousarray(arr)
    if arr.dtype != np.uint8:
        raise ValueError("encode_png wants uint8 pixels")
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def _as_image(image_rgb_uint8) -> np.ndarray:
    img = np.asarray(image_rgb_uint8)
    if img.ndim == 2:
        img = np.stack([img] * 3, -1)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) uint8, got shape {img.shape}")
    if img.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {img.dtype}")
    return img


def _as_cam(raw_map) -> np.ndarray:
    cam = np.asarray(raw_map, dtype=np.float32)
    while cam.ndim > 2 and cam.shape[0] == 1:
        cam = cam[0]
    if cam.ndim != 2:
        raise ValueError(f"a CAM map must be (H, W), got shape {cam.shape}")
    return cam


def resize_map(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear (align_corners=False) resize of a 2-D map to (H, W)."""
    if tuple(cam.shape) == tuple(size):
        return cam.astype(np.float32)
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(cam, dtype=np.float32))[None, None]
    return F.interpolate(t, size=tuple(size), mode="bilinear", align_corners=False)[0, 0].numpy()


def normalize_map(cam) -> np.ndarray:
    """Min-max to [0, 1] in float64; a constant map gives zeros."""
    cam = np.asarray(cam, dtype=np.float64)
    lo, hi = float(cam.min()), float(cam.max())
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return np.zeros_like(cam)
    return (cam - lo) / (hi - lo)


@lru_cache(maxsize=16)
def colormap_lut(name: str = "jet") -> np.ndarray:
    """(256, 3) uint8 lookup table of a matplotlib colormap."""
    from matplotlib import colormaps

    cmap = colormaps[name]
    lut = cmap(np.linspace(0.0, 1.0, 256))[:, :3]
    lut = np.round(lut * 255.0).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def _to_uint8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.round(a), 0, 255).astype(np.uint8)


def heatmap_array(cam, colormap: str = "jet") -> np.ndarray:
    idx = np.round(normalize_map(cam) * 255.0).astype(np.intp)
    return colormap_lut(colormap)[idx]


def heatmap_png(raw_map, size: tuple[int, int] | None = None, colormap: str = "jet") -> bytes:
    """The normalized map alone, colour-mapped."""
    cam = _as_cam(raw_map)
    if size is not None:
        cam = resize_map(cam, size)
    return encode_png(heatmap_array(cam, colormap))


def overlay_array(image_rgb_uint8, raw_map, alpha: float = 0.5, colormap: str = "jet") -> np.ndarray:
    img = _as_image(image_rgb_uint8)
    cam = resize_map(_as_cam(raw_map), img.shape[:2])
    heat = heatmap_array(cam, colormap).astype(np.float64)
    return _to_uint8((1.0 - alpha) * img.astype(np.float64) + alpha * heat)


def overlay_png(image_rgb_uint8, raw_map, alpha: float = 0.5, colormap: str = "jet") -> bytes:
    """Grad-CAM as a heatmap overlay on the photograph."""
    return encode_png(overlay_array(image_rgb_uint8, raw_map, alpha, colormap))


def masked_array(image_rgb_uint8, raw_map) -> np.ndarray:
    img = _as_image(image_rgb_uint8)
    cam = normalize_map(resize_map(_as_cam(raw_map), img.shape[:2]))
    return _to_uint8(img.astype(np.float64) * cam[..., None])


def masked_png(image_rgb_uint8, raw_map) -> bytes:
    """The photograph multiplied by the normalized map."""
    return encode_png(masked_array(image_rgb_uint8, raw_map))


def gradient_array(raw_map) -> np.ndarray:
    g = np.asarray(raw_map, dtype=np.float64)
    while g.ndim > 3 and g.shape[0] == 1:
        g = g[0]
    if g.ndim == 3 and g.shape[0] in (1, 3):
        g = g.transpose(1, 2, 0)  # the engine's layout (C, H, W); wins when ambiguous
    if g.ndim == 2:
        g = g[..., None]
    if g.ndim != 3 or g.shape[2] not in (1, 3):
        raise ValueError(f"a gradient map must be (3, H, W) or (H, W, 3), got shape {np.shape(raw_map)}")
    if g.shape[2] == 1:
        g = np.repeat(g, 3, 2)
    return _to_uint8(normalize_map(g) * 255.0)


def gradient_png(raw_map) -> bytes:
    """Guided Backprop / Deconvnet / their Grad-CAM products as an image."""
    return encode_png(gradient_array(raw_map))


def render_stimulus(
    method: str, image_rgb_uint8, raw_map, style: str = "auto", *, alpha: float = 0.5, colormap: str = "jet"
) -> bytes:
    """PNG bytes for one method's raw map of one image and one target.

    CAM methods: ``style`` "overlay" (default for "auto"), "masked" or "heatmap";
    ``raw_map`` (H, W) or (h, w), resized to the image. Gradient methods: ``style``
    "auto" or "gradient"; ``raw_map`` (3, H, W) or (H, W, 3); the photograph is
    not used.
    """
    from .methods import METHODS

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    kind = METHODS[method].kind
    if kind == "cam":
        style = "overlay" if style == "auto" else style
        if style == "overlay":
            return overlay_png(image_rgb_uint8, raw_map, alpha=alpha, colormap=colormap)
        if style == "masked":
            return masked_png(image_rgb_uint8, raw_map)
        if style == "heatmap":
            img = _as_image(image_rgb_uint8)
            return heatmap_png(raw_map, img.shape[:2], colormap)
        raise ValueError(f"style {style!r} is not one of auto, {', '.join(CAM_STYLES)} for {method}")
    style = "gradient" if style == "auto" else style
    if style != "gradient":
        raise ValueError(f"style {style!r} is not one of auto, gradient for {method}")
    return gradient_png(raw_map)
