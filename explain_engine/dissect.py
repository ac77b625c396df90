"""Concept names for a layer's channels (NetDissect) and textual explanations from neuron importance.

The Grad-CAM paper's textual explanations (Selvaraju et al., IJCV 2019, Section 7) combine two
things:

* **Network dissection** (Bau et al., CVPR 2017): each channel k of a layer gets a concept name.
  Over a probe set, the channel's activation maps are upsampled to the image size and thresholded
  at the channel's top quantile T_k (a value exceeded by a fraction ``1 - quantile`` of all its
  activations); the channel's IoU with a concept c is
  ``sum_images |{a_k > T_k} & mask_c| / sum_images |{a_k > T_k} | mask_c|``, and its name is the
  concept with the highest IoU.
* **Neuron importance**: Grad-CAM's channel weights alpha_k^c (mean over positions of
  d y^c / d A^k). The explanation of a decision for class c names the concepts of the channels with
  the largest positive alpha_k^c.

The threshold is taken on the layer's own (low-resolution) activations, as NetDissect does; only the
comparison with the masks happens at the image resolution. Pure PyTorch; no Django.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .core import _ModelGuard
from .layers import get_module

DISSECT_VERSION = "1"
DEFAULT_QUANTILE = 0.99
DEFAULT_BATCH = 64
# A unit whose best IoU stays below this is no detector of any concept (NetDissect uses 0.04).
MIN_IOU = 0.04
UNNAMED = "unnamed"


def conv_layers(model: nn.Module) -> list[str]:
    """Dotted names of the model's convolutions, in definition order: the depths Grad-CAM can be taken at."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def layer_activations(model: nn.Module, layer: str, x: torch.Tensor, batch: int = DEFAULT_BATCH) -> torch.Tensor:
    """The layer's output (N, C, h, w) for preprocessed images ``x`` (N, 3, H, W), on the CPU."""
    module = get_module(model, layer)
    device = next(model.parameters()).device
    outs: list[torch.Tensor] = []

    def hook(_m, _inputs, output):
        outs.append(output.detach().float().cpu().clone())

    handle = module.register_forward_hook(hook)
    try:
        with _ModelGuard(model), torch.inference_mode():
            for start in range(0, x.shape[0], batch):
                model(x[start : start + batch].to(device))
    finally:
        handle.remove()
    if not outs:
        raise ValueError(f"layer {layer!r} was not called in the forward pass")
    acts = torch.cat(outs)
    if acts.ndim != 4:
        raise ValueError(f"layer {layer!r} does not return a spatial map (got shape {tuple(acts.shape)})")
    return acts


def channel_importance(model: nn.Module, layer: str, x: torch.Tensor, targets) -> tuple[torch.Tensor, torch.Tensor]:
    """Grad-CAM's channel weights alpha (N, C) for one target class per image, and the logits (N, classes).

    The engine's Explainer returns maps, not the weights that made them; this is the same first step
    (hook on the layer, ``autograd.grad`` from the selected scores to the layer, mean over positions)
    with the weights kept.
    """
    module = get_module(model, layer)
    device = next(model.parameters()).device
    store: dict[str, torch.Tensor] = {}

    def hook(_m, _inputs, output):
        if not output.requires_grad:
            output = output.detach().requires_grad_(True)
        store["acts"] = output
        return output.clone()  # an in-place op downstream must not overwrite the saved activations

    handle = module.register_forward_hook(hook)
    try:
        with torch.inference_mode(False), torch.enable_grad(), _ModelGuard(model):
            xx = x.detach().to(device).clone()
            scores = model(xx)
            t = torch.as_tensor(targets, dtype=torch.long, device=scores.device).reshape(-1, 1)
            if t.shape[0] == 1 and scores.shape[0] > 1:
                t = t.expand(scores.shape[0], 1)
            if (t < 0).any() or (t >= scores.shape[1]).any():
                raise ValueError(f"a target is out of range for a model with {scores.shape[1]} classes")
            (grad,) = torch.autograd.grad(scores.gather(1, t).sum(), store["acts"])
    finally:
        handle.remove()
    return grad.mean((2, 3)).detach().float().cpu(), scores.detach().float().cpu()


@dataclass
class Dissection:
    """Per channel: the best concept and its IoU, plus every concept's IoU."""

    layer: str
    concepts: list[str]
    quantile: float
    thresholds: list[float]
    ious: np.ndarray  # (C, K)
    n_images: int
    version: str = DISSECT_VERSION
    extra: dict = field(default_factory=dict)

    def unit_name(self, k: int) -> tuple[str, float]:
        if not self.concepts:
            return UNNAMED, 0.0
        j = int(np.argmax(self.ious[k]))
        iou = float(self.ious[k, j])
        return (self.concepts[j] if iou >= MIN_IOU else UNNAMED), iou

    def as_dict(self) -> dict:
        units = []
        for k in range(self.ious.shape[0]):
            name, iou = self.unit_name(k)
            units.append(
                {
                    "unit": k,
                    "concept": name,
                    "iou": round(iou, 4),
                    "threshold": self.thresholds[k],
                    "ious": {c: round(float(v), 4) for c, v in zip(self.concepts, self.ious[k])},
                }
            )
        return {
            "layer": self.layer,
            "concepts": list(self.concepts),
            "quantile": self.quantile,
            "n_images": self.n_images,
            "min_iou": MIN_IOU,
            "version": self.version,
            "units": units,
            **self.extra,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Dissection:
        concepts = list(data["concepts"])
        units = sorted(data["units"], key=lambda u: u["unit"])
        ious = np.array([[u["ious"].get(c, 0.0) for c in concepts] for u in units], dtype=np.float64)
        return cls(
            layer=data["layer"],
            concepts=concepts,
            quantile=float(data["quantile"]),
            thresholds=[float(u["threshold"]) for u in units],
            ious=ious.reshape(len(units), len(concepts)),
            n_images=int(data["n_images"]),
            version=str(data.get("version", DISSECT_VERSION)),
        )


def dissect(
    acts: torch.Tensor,
    masks: Sequence[Mapping[str, np.ndarray]],
    concepts: Sequence[str] | None = None,
    *,
    layer: str = "",
    quantile: float = DEFAULT_QUANTILE,
) -> Dissection:
    """Name the channels of ``acts`` (N, C, h, w) by the concept masks of the same N images.

    ``masks[i]`` maps a concept name to a boolean (H, W) mask of image i (a concept absent from an
    image is empty there). ``concepts``: the concept order (default: every name seen, sorted).
    """
    if acts.ndim != 4:
        raise ValueError("acts must be shaped (N, C, h, w)")
    n, c = acts.shape[:2]
    if len(masks) != n:
        raise ValueError(f"{len(masks)} mask sets for {n} images")
    if not 0.0 < quantile < 1.0:
        raise ValueError("quantile must be in (0, 1)")
    if concepts is None:
        concepts = sorted({name for m in masks for name in m})
    concepts = list(concepts)
    acts = acts.float()
    flat = acts.transpose(0, 1).reshape(c, -1)
    thresholds = torch.quantile(flat, quantile, dim=1) if flat.shape[1] <= 16_000_000 else _kth(flat, quantile)
    inter = torch.zeros(c, len(concepts), dtype=torch.float64)
    unit_area = torch.zeros(c, dtype=torch.float64)
    concept_area = torch.zeros(len(concepts), dtype=torch.float64)
    for i in range(n):
        shapes = {np.asarray(m).shape for m in masks[i].values()}
        if len(shapes) > 1:
            raise ValueError(f"image {i}: concept masks of different sizes {sorted(shapes)}")
        size = shapes.pop() if shapes else tuple(acts.shape[-2:])
        up = F.interpolate(acts[i : i + 1], size=size, mode="bilinear", align_corners=False)[0]
        on = (up > thresholds[:, None, None]).reshape(c, -1).to(torch.float32)
        unit_area += on.sum(1, dtype=torch.float64)
        if not concepts:
            continue
        lab = torch.zeros(len(concepts), on.shape[1], dtype=torch.float32)
        for j, name in enumerate(concepts):
            m = masks[i].get(name)
            if m is not None:
                lab[j] = torch.from_numpy(np.asarray(m, dtype=bool).reshape(-1).astype(np.float32))
        concept_area += lab.sum(1, dtype=torch.float64)
        inter += (on @ lab.T).double()
    union = unit_area[:, None] + concept_area[None, :] - inter
    ious = torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter))
    return Dissection(
        layer=layer,
        concepts=concepts,
        quantile=quantile,
        thresholds=[round(float(t), 6) for t in thresholds],
        ious=ious.numpy(),
        n_images=n,
    )


def _kth(flat: torch.Tensor, quantile: float) -> torch.Tensor:
    """Per-row quantile for rows too long for torch.quantile (nearest rank)."""
    k = max(1, min(flat.shape[1], int(round(quantile * flat.shape[1]))))
    return flat.kthvalue(k, dim=1).values


def box_masks(boxes: Sequence[tuple[str, Sequence[float]]], size: tuple[int, int]) -> dict[str, np.ndarray]:
    """Boolean (H, W) masks from (concept, (x0, y0, x1, y1)) boxes in pixels of an image of ``size`` (H, W)."""
    h, w = size
    out: dict[str, np.ndarray] = {}
    for name, (x0, y0, x1, y1) in boxes:
        m = out.setdefault(name, np.zeros((h, w), dtype=bool))
        xa, ya = max(0, int(x0)), max(0, int(y0))
        xb, yb = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
        m[ya:yb, xa:xb] = True
    return out


def explain_decision(importance: np.ndarray | torch.Tensor, dissection: Dissection, top: int = 3) -> list[dict]:
    """The ranked concepts behind one decision: walk the channels by positive importance, best first,
    and keep each concept the first time a channel named by it appears (unnamed channels are passed
    over). Returns up to ``top`` dicts {name, iou, importance, unit}."""
    alpha = np.asarray(importance, dtype=np.float64).reshape(-1)
    if alpha.shape[0] != dissection.ious.shape[0]:
        raise ValueError(f"{alpha.shape[0]} importances for a dissection of {dissection.ious.shape[0]} units")
    ranked: list[dict] = []
    for k in np.argsort(-alpha, kind="stable"):
        if alpha[k] <= 0 or len(ranked) >= top:
            break
        name, iou = dissection.unit_name(int(k))
        if name == UNNAMED or any(r["name"] == name for r in ranked):
            continue
        ranked.append({"name": name, "iou": round(iou, 4), "importance": round(float(alpha[k]), 6), "unit": int(k)})
    return ranked


def sentence(class_name: str, ranked: Sequence[Mapping]) -> str:
    """ "The network's decision for star relies most on units that detect stripes (IoU 0.31), star (0.22)"."""
    if not ranked:
        return f"No unit with a concept name supports the network's decision for {class_name}."
    parts = [
        f"{r['name']} (IoU {r['iou']:.2f})" if i == 0 else f"{r['name']} ({r['iou']:.2f})" for i, r in enumerate(ranked)
    ]
    return f"The network's decision for {class_name} relies most on units that detect {', '.join(parts)}."


def textual_explanations(
    model: nn.Module,
    dissection: Dissection,
    x: torch.Tensor,
    target: int,
    class_name: str,
    top: int = 3,
    batch: int = DEFAULT_BATCH,
) -> list[dict]:
    """One explanation per image of ``x`` for class index ``target``: {sentence, concepts, score}."""
    out = []
    for start in range(0, x.shape[0], batch):
        alpha, scores = channel_importance(model, dissection.layer, x[start : start + batch], target)
        for a, s in zip(alpha, scores):
            ranked = explain_decision(a, dissection, top)
            out.append(
                {
                    "class": class_name,
                    "score": round(float(s[target]), 6),
                    "concepts": ranked,
                    "sentence": sentence(class_name, ranked),
                }
            )
    return out


def top_k_shares(explanations: Sequence[Mapping]) -> dict[str, float]:
    """For each concept, the share of explanations that name it among their ranked concepts."""
    if not explanations:
        return {}
    counts: dict[str, int] = {}
    for e in explanations:
        for name in {r["name"] for r in e["concepts"]}:
            counts[name] = counts.get(name, 0) + 1
    return {k: round(v / len(explanations), 4) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}
