"""Which images a study can show: the labels a kind asks for, and the objects the display keeps in view."""

from __future__ import annotations

from dataclasses import dataclass, field

from .geometry import model_geometry, visible_labels


@dataclass
class Eligibility:
    """The images that qualify, and how many more would qualify if the crop did not cut their object off."""

    images: list
    cropped_out: int = 0
    visible: dict = field(default_factory=dict)  # image id -> labels whose object the display shows


def keep_visible(images, models, threshold: float, needed) -> Eligibility:
    """The images for which `needed(image, labels in view)` holds on every model's display."""
    geometries = [model_geometry(m) for m in models]
    kept, visible, cropped_out = [], {}, 0
    for im in images:
        shown = visible_labels(im, geometries, threshold)
        if needed(im, shown):
            kept.append(im)
            visible[im.id] = shown
        else:
            cropped_out += 1
    return Eligibility(kept, cropped_out, visible)


def images_of(image_set):
    return image_set.images.only("id", "labels", "boxes", "width", "height", "sha256", "filename").order_by("id")
