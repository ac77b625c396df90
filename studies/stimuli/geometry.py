"""Where a registered model's photographs and boxes land: the Django side of explain_engine.geometry.

Generation records each stimulus's geometry in its provenance; the faithfulness report and the
simulated participants read it back from there, and image eligibility asks the models, so that every
box is placed on a map exactly where the network saw the object.
"""

from __future__ import annotations

from functools import lru_cache

from explain_engine.geometry import WHOLE, DisplayGeometry

from ..design import ATTENTION_CROP


@lru_cache(maxsize=256)
def _geometry(arch: str, weights_name: str, display: str) -> DisplayGeometry:
    from explain_engine.models import display_geometry

    try:
        return display_geometry(arch, weights_name or None, display or "standard")
    except ValueError:
        # Registration refuses architectures the engine cannot build, so only rows made by hand
        # (test data) get here; their maps are taken to cover the photograph.
        return WHOLE


def model_geometry(model) -> DisplayGeometry:
    """The geometry a registered ClassifierModel applies to photographs."""
    return _geometry(model.arch, model.weights_name or "", getattr(model, "display", "standard"))


def stimulus_geometry(stimulus) -> DisplayGeometry:
    """The geometry a stimulus was made with: its provenance record, else its model's."""
    recorded = (stimulus.provenance or {}).get("display")
    if isinstance(recorded, dict) and recorded.get("mode"):
        return DisplayGeometry.from_dict(recorded)
    if stimulus.method == ATTENTION_CROP:
        return WHOLE
    return model_geometry(stimulus.model)


def provenance_record(geometry: DisplayGeometry) -> dict:
    return {**geometry.to_dict(), "description": geometry.describe()}


def visible_labels(image, geometries, threshold: float) -> set[str]:
    """The image's labels whose object the participant sees: a box of the label keeps at least
    `threshold` of its area in every geometry. A label without boxes cannot be judged and counts."""
    size = (image.width, image.height)
    shown = set()
    for label in set(image.labels):
        boxes = image.boxes_for(label)
        if not boxes or any(all(g.visible_fraction(box, size) >= threshold for g in geometries) for box in boxes):
            shown.add(label)
    return shown


def boxes_on_map(stimulus, label: str, map_shape) -> list[tuple[int, int, int, int]]:
    """The label's ground-truth boxes as pixel ranges of the stimulus's map (cut to what it shows)."""
    image = stimulus.image
    return stimulus_geometry(stimulus).boxes_on_grid(image.boxes_for(label), (image.width, image.height), map_shape)
