"""Textual explanations from neuron importance (the Grad-CAM paper's NetDissect step), on the Django side.

The probe set is an image set: its concepts are the labels of its boxes (each object's box) and its
cue regions (boxes labelled `cue:<name>` in labels.csv, such as the demo's stripes). The dissection
of a (model, layer, probe set) and the explanations of a class over a set are ModelAnalysis rows
(studies/tools/analyses.py), computed on the `gpu` queue and cached by content key. The arithmetic is in
explain_engine.dissect.
"""

from __future__ import annotations

import io

import numpy as np

from ..models import AnalysisKind, ClassifierModel, ImageItem, ImageSet, JobStatus, ModelAnalysis
from ..results.faithfulness import scale_boxes
from ..tools import analyses
from .geometry import WHOLE, model_geometry

DEFAULT_TOP = 3


class TextualError(Exception):
    """A request for textual explanations is refused; the message says why."""


def concept_masks(image: ImageItem, size: tuple[int, int], geometry=WHOLE) -> dict[str, np.ndarray]:
    """Boolean masks (at the network's input size (H, W), placed by the model's display geometry) of
    every concept annotated on the image."""
    from explain_engine.dissect import box_masks

    names = [b["label"] for b in image.boxes]
    scaled = scale_boxes([b["box"] for b in image.boxes], (image.width, image.height), size, geometry)
    return box_masks(list(zip(names, scaled)), size)


def cue_concepts(image: ImageItem) -> list[str]:
    return sorted({b["label"] for b in image.boxes if b.get("cue")})


def compute_dissection(analysis: ModelAnalysis, bundle, get_bundle) -> dict:
    import torch

    from explain_engine.dissect import DEFAULT_QUANTILE, dissect, layer_activations

    layer = analysis.layer or analyses.default_layer(analysis.model, bundle)
    images = list(analysis.image_set.images.order_by("id"))
    if not images:
        raise TextualError(f"the image set {analysis.image_set.name} has no images")
    acts, masks, cues = [], [], set()
    geometry = model_geometry(analysis.model)
    for group in analyses.image_batches(images, bundle):
        x = torch.stack([t for _, t, _ in group])
        acts.append(layer_activations(bundle.module, layer, x))
        for im, t, _ in group:
            masks.append(concept_masks(im, tuple(t.shape[-2:]), geometry))
            cues.update(cue_concepts(im))
    if len({a.shape[1:] for a in acts}) > 1:
        raise TextualError("the probe set's images give activation maps of different sizes; use one image size")
    quantile = float(analysis.parameters.get("quantile", DEFAULT_QUANTILE))
    result = dissect(torch.cat(acts), masks, layer=layer, quantile=quantile).as_dict()
    result["cue_concepts"] = sorted(cues)
    return result


def request_dissection(model: ClassifierModel, image_set: ImageSet, layer: str = "", *, wait=None) -> ModelAnalysis:
    return analyses.do_request_analysis(AnalysisKind.DISSECTION, model, image_set, layer, {}, wait=wait)


def request_textual(
    model: ClassifierModel, image_set: ImageSet, class_name: str, top: int = DEFAULT_TOP, layer: str = "", *, wait=None
) -> ModelAnalysis:
    if class_name not in model.categories:
        raise TextualError(f"{model.name} has no class {class_name!r} (its classes: {', '.join(model.categories)})")
    if not 1 <= int(top) <= 50:
        raise TextualError("top must be between 1 and 50")
    if not image_set.images.filter(labels__contains=[class_name]).exists():
        raise TextualError(f"no image of {image_set.name} is labelled {class_name!r}")
    parameters = {"class": class_name, "top": int(top)}
    return analyses.do_request_analysis(AnalysisKind.TEXTUAL, model, image_set, layer, parameters, wait=wait)


def _done_dissection(analysis: ModelAnalysis, get_bundle) -> dict:
    """The dissection the explanations rest on; computed here (we are on the worker) when missing."""
    row, _ = analyses.find_or_create(AnalysisKind.DISSECTION, analysis.model, analysis.image_set, analysis.layer, {})
    if row.status != JobStatus.DONE:
        row = analyses.do_run_analysis(row.pk, get_bundle)
    if row.status != JobStatus.DONE:
        raise TextualError(f"the dissection failed: {row.error}")
    return {"id": row.pk, "content_key": row.content_key, "results": row.results}


def compute_textual(analysis: ModelAnalysis, bundle, get_bundle) -> dict:
    import torch

    from explain_engine.dissect import Dissection, textual_explanations, top_k_shares

    class_name, top = analysis.parameters["class"], int(analysis.parameters["top"])
    dissection_row = _done_dissection(analysis, get_bundle)
    dissection = Dissection.from_dict(dissection_row["results"])
    target = analysis.model.categories.index(class_name)
    images = [im for im in analysis.image_set.images.order_by("id") if class_name in im.labels]
    entries = []
    for group in analyses.image_batches(images, bundle):
        x = torch.stack([t for _, t, _ in group])
        for (im, _, _), explanation in zip(
            group, textual_explanations(bundle.module, dissection, x, target, class_name, top), strict=True
        ):
            entries.append({"image": im.filename, "image_id": im.pk, "cues": cue_concepts(im), **explanation})
    with_cue = {}
    for cue in sorted({c for e in entries for c in e["cues"]}):
        subset = [e for e in entries if cue in e["cues"]]
        with_cue[cue] = {"images": len(subset), "top_k_share": top_k_shares(subset)}
    return {
        "class": class_name,
        "top": top,
        "layer": dissection.layer,
        "dissection": {"id": dissection_row["id"], "content_key": dissection_row["content_key"]},
        "images": entries,
        "summary": {"images": len(entries), "top_k_share": top_k_shares(entries), "with_cue": with_cue},
    }


def share_naming(analysis: ModelAnalysis, concept: str, cue: str | None = None) -> float | None:
    """The share of the explanations (of images with `cue`, if given) that name `concept` in their top k."""
    images = [e for e in analysis.results.get("images", []) if cue is None or cue in e["cues"]]
    if not images:
        return None
    return sum(any(c["name"] == concept for c in e["concepts"]) for e in images) / len(images)


# --- textual explanations as stimuli ------------------------------------------------------------
METHOD = "textual"  # a study method beside the engine's: the participant reads the sentence instead of a map
TEXT_RECIPE = "text-1"
TEXT_SIDE = 360


def sentence_png(text: str, side: int = TEXT_SIDE) -> bytes:
    """The sentence set on a white square (the stimulus file; the participant page shows the text itself)."""
    import textwrap

    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (side, side), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=20)
    lines = textwrap.wrap(text, width=30)
    y = max(8, (side - 26 * len(lines)) // 2)
    for line in lines:
        draw.text((16, y), line, fill="black", font=font)
        y += 26
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def text_stimulus(model: ClassifierModel, probe_set: ImageSet, image: ImageItem, target_class: str, get_bundle) -> dict:
    """The textual explanation of one decision, from the dissection of the model's target layer on the
    probe set (computed here when missing: this runs on the worker). Returns {text, concepts, dissection}."""
    from explain_engine.dissect import Dissection, channel_importance, explain_decision, sentence

    from .generation import _open_rgb

    row, _ = analyses.find_or_create(AnalysisKind.DISSECTION, model, probe_set, "", {})
    if row.status != JobStatus.DONE:
        row = analyses.do_run_analysis(row.pk, get_bundle)
    if row.status != JobStatus.DONE:
        raise TextualError(f"the dissection failed: {row.error}")
    dissection = Dissection.from_dict(row.results)
    bundle = get_bundle(model)
    x = bundle.preprocess(_open_rgb(image))[None]
    alpha, _ = channel_importance(bundle.module, dissection.layer, x, model.categories.index(target_class))
    ranked = explain_decision(alpha[0], dissection, DEFAULT_TOP)
    return {"text": sentence(target_class, ranked), "concepts": ranked, "dissection": row.content_key}


def do_text_stimulus(unit, model: ClassifierModel, image: ImageItem, study, job_id: int, get_bundle) -> str:
    """Generate one `textual` stimulus of a study (its chunk's worker calls this): the sentence for the
    unit's target, from the dissection of the model on the study's image set. Returns the count it adds
    to: "created", "existing" or "failed" (a failure is recorded with its reason, as generation does)."""
    from . import generation

    try:
        text = text_stimulus(model, study.image_set, image, unit.target_class, get_bundle)
        prov = generation._provenance(unit, model, image, study, job_id, "cpu", {"textual": text})
        created = generation._save_stimulus(unit, model, image, sentence_png(text["text"]), None, None, prov)
    except Exception as exc:  # noqa: BLE001 - recorded with its reason, shown in the admin
        generation._record_failure(
            job_id, image, model, unit.method, f"{unit.target_class}: {type(exc).__name__}: {exc}"
        )
        return "failed"
    return "created" if created else "existing"
