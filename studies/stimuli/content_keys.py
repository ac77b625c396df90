"""Content keys: every input and version that determines a stimulus's pixels, hashed, so that
generation is idempotent and a changed input makes a new stimulus."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from .. import design
from ..kinds import kind_of
from ..models import ImageItem, Study, Trial
from .configuration import known_methods, resolve_style

PHOTO_CROP_RECIPE = "photo_crop-1"  # grey (128) outside the target's ground-truth boxes, original geometry
# The control arm's panel: the photograph through the model's display geometry (what the other arms'
# maps are drawn over), nothing added.
PLAIN_PHOTO_RECIPE = "plain_photo-1"


def engine_versions() -> tuple[str, str]:
    from explain_engine import ENGINE_VERSION
    from explain_engine.render import RECIPE_VERSION

    return ENGINE_VERSION, RECIPE_VERSION


@dataclass(frozen=True)
class Unit:
    """One stimulus to exist: `key` is its content key."""

    key: str
    image_id: int
    model_id: int
    method: str
    target_class: str
    target_index: int
    style: str
    engine_version: str
    recipe_version: str
    colormap: str | None = None  # None: the style draws no colormap


def content_key(
    *, image_sha256, model, method, target_index, target_class, style, engine_version, recipe_version, boxes=None
) -> str:
    """sha256 of every input and version that determines a stimulus's pixels."""
    parts = {
        "image": image_sha256,
        "arch": model.arch,
        "weights": model.weights_sha256,
        "weights_name": model.weights_name,
        "layer": model.target_layer,
        "method": method,
        "target": [int(target_index), target_class],
        "style": style,
        "engine": engine_version,
        "recipe": recipe_version,
    }
    if boxes is not None:
        parts["boxes"] = boxes
    display = getattr(model, "display", "standard")
    if display != "standard":  # only then, so the keys of existing stimuli stay as they were
        parts["display"] = display
    return hashlib.sha256(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def unit_for(study, image: ImageItem, model, method: str, target: str, kinds: dict[str, str], versions) -> Unit:
    target_index = model.categories.index(target) if target in model.categories else -1
    boxes = None
    if method == design.ATTENTION_CROP:
        # A crop of the photograph: no engine involved, the boxes decide the pixels.
        style, (engine_version, recipe_version) = "photo", (design.NO_ENGINE, PHOTO_CROP_RECIPE)
        boxes = image.boxes_for(target)
        colormap = None
    elif method == design.NO_EXPLANATION:
        # The photograph as the network sees it: no engine; the model's display geometry decides the
        # pixels, and it is in the key through the architecture, weights name and display.
        style, (engine_version, recipe_version) = "photo", (design.NO_ENGINE, PLAIN_PHOTO_RECIPE)
        colormap = None
    else:
        from explain_engine.render import colormap_for
        from explain_engine.render import recipe_version as render_recipe

        style = resolve_style(study.kind, study.render_style, kinds.get(method, "cam"))
        # The colormap enters the content key through the recipe version: another colormap, another stimulus.
        colormap = colormap_for(style, study.colormap)
        engine_version, recipe_version = versions[0], render_recipe(style, study.colormap)
    key = content_key(
        image_sha256=image.sha256,
        model=model,
        method=method,
        target_index=target_index,
        target_class=target,
        style=style,
        engine_version=engine_version,
        recipe_version=recipe_version,
        boxes=boxes,
    )
    return Unit(key, image.id, model.id, method, target, target_index, style, engine_version, recipe_version, colormap)


def trial_units(study: Study, trials=None) -> list[tuple[Trial, int, Unit]]:
    """(trial, slot, unit) for every panel of the study's trials, as the study's kind lists them."""
    trials = list(trials if trials is not None else study.trials.select_related("image"))
    kind = kind_of(study)
    kinds = known_methods()
    versions = engine_versions()
    out = []
    for trial in trials:
        for slot, panel in enumerate(kind.panels(study, trial)):
            unit = unit_for(study, trial.image, panel.model, panel.method, panel.target_class, kinds, versions)
            out.append((trial, slot, unit))
    return out
