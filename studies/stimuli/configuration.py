"""A study's configuration for generating stimuli: what is wrong with it, which images it lets
qualify, and which of its fields make the generated trials stale."""

from __future__ import annotations

from ..design import NO_EXPLANATION
from ..kinds import UnknownKind, kind_of
from ..models import Study, StudyStatus
from ..participants.recruitment import recruitment_errors
from .eligibility import Eligibility

RENDER_STYLES = ("auto", "masked", "overlay", "heatmap")


# Fields whose change makes the generated trial bank stale.
GENERATION_FIELDS = (
    "kind",
    "kind_settings",
    "methods",
    "control_arm",
    "model",
    "stronger_model",
    "weaker_model",
    "image_set",
    "seed",
    "max_images",
    "render_style",
    "colormap",
    "attention_checks_per_participant",
    "min_visible_box_fraction",
)


class StudyError(Exception):
    """An action on a study is refused; the message says why (shown to the researcher)."""


def known_methods() -> dict[str, str]:
    """explain_engine method name -> kind ("cam" or "gradient"), and "textual" -> "text" (the sentence
    of studies/stimuli/textual.py in place of a map). Imports the engine (and torch)."""
    from explain_engine import METHODS

    from .textual import METHOD as TEXTUAL

    return {name: m.kind for name, m in METHODS.items()} | {TEXTUAL: "text"}


def resolve_style(kind: str, render_style: str, method_kind: str) -> str:
    """The rendering style of a method's stimuli: "auto" is the kind's default (class discrimination
    never shows the unmasked photo)."""
    if method_kind in ("gradient", "text"):
        return method_kind
    if render_style in ("", "auto"):
        return kind_of(kind).default_style
    return render_style


def study_config_errors(study: Study, methods_known: dict[str, str] | None = None) -> list[str]:
    """Everything wrong with a study's configuration for generating stimuli (empty when fine)."""
    errors = []
    methods = study.methods or []
    if not isinstance(methods, list) or not methods:
        errors.append("choose at least one explanation method")
    else:
        known = methods_known if methods_known is not None else known_methods()
        if NO_EXPLANATION in methods:
            errors.append(
                f"“{NO_EXPLANATION}” is the no-explanation control arm, not a method: tick “control arm” instead"
            )
        unknown = [m for m in methods if m not in known and m != NO_EXPLANATION]
        if unknown:
            errors.append(f"unknown methods: {', '.join(map(str, unknown))} (known: {', '.join(known)})")
        if len(set(methods)) != len(methods):
            errors.append("a method is listed twice")
    if study.image_set_id is None:
        errors.append("choose an image set")
    try:
        errors += kind_of(study).config_errors(study)
    except UnknownKind:
        errors.append(f"studies of kind {study.kind!r} cannot generate stimuli yet")
    if study.render_style not in RENDER_STYLES:
        errors.append(f"render style must be one of {', '.join(RENDER_STYLES)}")
    colormaps = [c for c, _ in Study._meta.get_field("colormap").choices]
    if study.colormap not in colormaps:
        errors.append(f"colormap must be one of {', '.join(colormaps)}")
    errors += recruitment_errors(study)
    return errors


def study_eligibility(study: Study) -> Eligibility | None:
    """The images the study's kind lets qualify (None until the configuration says)."""
    try:
        return kind_of(study).eligibility(study)
    except UnknownKind:
        return None


def eligible_image_count(study: Study) -> int | None:
    found = study_eligibility(study)
    return None if found is None else len(found.images)


def crop_exclusion_text(study: Study) -> str:
    """For the study form: how many images the center crop disqualifies, and the rule."""
    found = study_eligibility(study)
    if found is None or not found.cropped_out:
        return ""
    return (
        f" {found.cropped_out} more images are left out because photos are center-cropped and less than "
        f"{study.min_visible_box_fraction:.0%} of their labelled object's box is inside the crop."
    )


def mark_stale_if_changed(study: Study, changed_fields) -> bool:
    """A ready study whose generation inputs changed goes back to draft (its trials must be regenerated)."""
    if study.status in (StudyStatus.READY,) and set(changed_fields) & set(GENERATION_FIELDS):
        study.status = StudyStatus.DRAFT
        return True
    return False
