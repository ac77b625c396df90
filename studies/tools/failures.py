"""Failure modes and dataset bias of a model on an image set (the Grad-CAM paper's Sections 6.1 and 6.3).

* Failure modes: every image whose top-1 prediction is none of its labels, with Grad-CAM for the
  predicted class beside Grad-CAM for the true class (the image's label that the model scores
  highest), and a confusion matrix of true against predicted class (an image whose top-1 is one of
  its labels counts as that label, correct).
* Bias summary: per class, over the images labelled with it, the share of the class's Grad-CAM mass
  outside the class's boxes, and over those of them that show a cue region (`cue:<name>` boxes), the
  share on the cue; each with a bootstrap interval over images; the most cue-driven classes first.

Both are ModelAnalysis rows (studies/tools/analyses.py) computed on the `gpu` queue; their maps are the
explorer's cached tiles, so the pages link the same files the explorer serves.
"""

from __future__ import annotations

import csv
import io

import numpy as np

from ..models import ClassifierModel, ImageSet, ModelAnalysis
from ..results.analysis import cluster_bootstrap_mean
from ..results.faithfulness import scale_boxes
from ..stimuli.geometry import model_geometry
from . import analyses
from .explorer import ensure_tiles, tile_path

FAILURE_METHOD = "gradcam"
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 17


def request(kind: str, model: ClassifierModel, image_set: ImageSet, *, wait=None) -> ModelAnalysis:
    return analyses.do_request_analysis(kind, model, image_set, "", {"method": FAILURE_METHOD}, wait=wait)


def _known(images, model):
    cats = set(model.categories)
    return [im for im in images if cats & set(im.labels)]


def _scores(bundle, group):
    import torch

    dev = next(bundle.module.parameters()).device
    x = torch.stack([t for _, t, _ in group]).to(dev)
    with torch.inference_mode():
        return x, bundle.module(x).float().cpu()


def compute_failures(analysis: ModelAnalysis, bundle, get_bundle) -> dict:
    model, layer = analysis.model, analyses.default_layer(analysis.model, bundle)
    cats = list(model.categories)
    confusion = np.zeros((len(cats), len(cats)), dtype=int)
    wrong, n = [], 0
    images = _known(analysis.image_set.images.order_by("id"), model)
    for group in analyses.image_batches(images, bundle):
        x, logits = _scores(bundle, group)
        for i, (im, _, pil) in enumerate(group):
            n += 1
            row = logits[i]
            pred = int(row.argmax())
            known = [cats.index(label) for label in im.labels if label in cats]
            true = pred if pred in known else max(known, key=lambda k: float(row[k]))
            confusion[true, pred] += 1
            if pred == true:
                continue
            keys, _, _ = ensure_tiles(
                model, bundle, pil, im.sha256, layer, [FAILURE_METHOD], [pred, true], x=x[i : i + 1]
            )
            wrong.append(
                {
                    "image_id": im.pk,
                    "image": im.filename,
                    "labels": im.labels,
                    "predicted": cats[pred],
                    "true": cats[true],
                    "predicted_score": round(float(row[pred]), 4),
                    "true_score": round(float(row[true]), 4),
                    "predicted_tile": keys[(FAILURE_METHOD, pred)],
                    "true_tile": keys[(FAILURE_METHOD, true)],
                }
            )
    return {
        "method": FAILURE_METHOD,
        "layer": layer,
        "images": n,
        "wrong": wrong,
        "accuracy": round(1 - len(wrong) / n, 4) if n else None,
        "confusion": {"classes": cats, "matrix": confusion.tolist()},
    }


def _mass_shares(cam: np.ndarray, boxes, cue_boxes: dict, image, size, geometry) -> tuple[float, dict]:
    from explain_engine.dissect import box_masks

    total = float(cam.sum())
    if total <= 0:
        return float("nan"), {name: float("nan") for name in cue_boxes}
    masks = box_masks([("object", b) for b in scale_boxes(boxes, (image.width, image.height), size, geometry)], size)
    outside = 1.0 - float(cam[masks["object"]].sum()) / total
    on_cue = {}
    for name, cb in cue_boxes.items():
        if not cb:  # the cue is not in this image: the share is taken over the images that show it
            on_cue[name] = float("nan")
            continue
        m = box_masks([(name, b) for b in scale_boxes(cb, (image.width, image.height), size, geometry)], size)[name]
        on_cue[name] = float(cam[m].sum()) / total
    return outside, on_cue


def _interval(values, ids) -> dict:
    keep = [(v, i) for v, i in zip(values, ids) if v == v]
    if not keep:
        return {"mean": None, "low": None, "high": None, "n": 0}
    vals = [v for v, _ in keep]
    low, high = cluster_bootstrap_mean(vals, [i for _, i in keep], n_resamples=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED)
    return {"mean": round(float(np.mean(vals)), 4), "low": round(low, 4), "high": round(high, 4), "n": len(vals)}


def compute_bias(analysis: ModelAnalysis, bundle, get_bundle) -> dict:
    import torch

    from explain_engine import Explainer

    model, layer = analysis.model, analyses.default_layer(analysis.model, bundle)
    cats = list(model.categories)
    images = _known(analysis.image_set.images.order_by("id"), model)
    cues = sorted({b["label"] for im in images for b in im.boxes if b.get("cue")})
    per_class: dict[str, dict] = {c: {"outside": [], "ids": [], "cue": {q: [] for q in cues}} for c in cats}
    explainer = Explainer(bundle.module, layer)
    geometry = model_geometry(model)
    for group in analyses.image_batches(images, bundle):
        x, _ = _scores(bundle, group)
        for i, (im, t, _) in enumerate(group):
            labelled = [c for c in im.labels if c in cats and im.boxes_for(c)]
            if not labelled:
                continue
            targets = torch.tensor([[cats.index(c) for c in labelled]], device=x.device)
            cams = explainer.explain(x[i : i + 1], targets, methods=(FAILURE_METHOD,))[FAILURE_METHOD][0].cpu().numpy()
            cue_boxes = {q: [b["box"] for b in im.boxes if b.get("cue") and b["label"] == q] for q in cues}
            for j, c in enumerate(labelled):
                outside, on_cue = _mass_shares(cams[j], im.boxes_for(c), cue_boxes, im, tuple(t.shape[-2:]), geometry)
                entry = per_class[c]
                entry["outside"].append(outside)
                entry["ids"].append(im.pk)
                for q in cues:
                    entry["cue"][q].append(on_cue[q])
    rows = []
    for c, entry in per_class.items():
        if not entry["ids"]:
            continue
        rows.append(
            {
                "class": c,
                "images": len(entry["ids"]),
                "outside_box": _interval(entry["outside"], entry["ids"]),
                "on_cue": {q: _interval(entry["cue"][q], entry["ids"]) for q in cues},
            }
        )

    def cue_driven(row):
        cue_means = [v["mean"] or 0.0 for v in row["on_cue"].values()]
        return (-(max(cue_means) if cue_means else 0.0), -(row["outside_box"]["mean"] or 0.0), row["class"])

    rows.sort(key=cue_driven)
    return {"method": FAILURE_METHOD, "layer": layer, "cues": cues, "classes": rows}


# --- CSV --------------------------------------------------------------------------------------
def failures_csv(analysis: ModelAnalysis) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["image", "labels", "predicted", "predicted_score", "true", "true_score", "predicted_map", "true_map"]
    )
    for w in analysis.results.get("wrong", []):
        writer.writerow(
            [
                w["image"],
                ";".join(w["labels"]),
                w["predicted"],
                w["predicted_score"],
                w["true"],
                w["true_score"],
                tile_path(w["predicted_tile"], "map.npy"),
                tile_path(w["true_tile"], "map.npy"),
            ]
        )
    return out.getvalue()


def bias_csv(analysis: ModelAnalysis) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    cues = analysis.results.get("cues", [])
    header = ["class", "images", "outside_box_mean", "outside_box_low", "outside_box_high"]
    for q in cues:
        header += [f"on_{q}_mean", f"on_{q}_low", f"on_{q}_high"]
    writer.writerow(header)
    for row in analysis.results.get("classes", []):
        line = [row["class"], row["images"]] + [row["outside_box"][k] for k in ("mean", "low", "high")]
        for q in cues:
            line += [row["on_cue"][q][k] for k in ("mean", "low", "high")]
        writer.writerow(line)
    return out.getvalue()
