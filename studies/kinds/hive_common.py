"""What the two HIVE tasks (Kim et al., ECCV 2022) share: images with stored predictions, split into
those the network gets right and wrong, and the performance bonus above chance."""

from __future__ import annotations

import random
from collections.abc import Sequence

from .. import design
from ..stimuli.eligibility import Eligibility, keep_visible
from .base import Setting, TaskKind

BONUS = Setting(
    "bonus_per_correct_above_chance",
    "Bonus per correct answer above chance",
    float,
    0.0,
    "HIVE pays for accuracy above chance: a participant earns this much for every correct answer beyond "
    "what guessing would give (0: no bonus). Exported in the participants CSV as `bonus`.",
    minimum=0.0,
    maximum=100.0,
)


class HiveKind(TaskKind):
    """A HIVE task: one network, explained on images with a label it knows, from its stored predictions."""

    model_fields = {"model": "the model to explain"}
    needs_predictions = True
    has_bonus = True

    def eligibility(self, study):
        if study.image_set_id is None or study.model_id is None:
            return None
        return labelled_images(study.image_set, study.model, study.min_visible_box_fraction)


def labelled_images(image_set, model, threshold: float) -> Eligibility:
    """Images with a label the model knows whose object is in view."""
    if image_set is None or model is None:
        return Eligibility([])
    cats = set(model.categories)
    labelled = [im for im in image_set.images.order_by("id") if cats & set(im.labels)]
    return keep_visible(labelled, [model], threshold, lambda im, shown: bool(cats & shown))


def predicted(context, model, image) -> list[str]:
    return list(context.predictions.get((model.id, image.id)) or [])


def true_labels(context, image) -> list[str]:
    return sorted(context.visible.get(image.id, set(image.labels)))


def split_by_correctness(context, model) -> tuple[list, list]:
    """(images whose top-1 prediction is one of their labels, images whose is not), by id."""
    right, wrong = [], []
    for im in sorted(context.eligible, key=lambda im: im.id):
        top = predicted(context, model, im)
        if not top:
            continue
        (right if top[0] in true_labels(context, im) else wrong).append(im)
    return right, wrong


def choose_mix(right: Sequence, wrong: Sequence, wrong_share: float, max_images: int | None, seed: int) -> list:
    """Images with `wrong_share` of them wrongly predicted (as near as the counts allow), drawn by the
    seed; as many as keep the share, or `max_images`."""
    if wrong_share <= 0:
        n_wrong, n_right = 0, len(right)
    elif wrong_share >= 1:
        n_wrong, n_right = len(wrong), 0
    else:
        total = int(min(len(right) / (1 - wrong_share), len(wrong) / wrong_share))
        n_wrong = round(total * wrong_share)
        n_right = total - n_wrong
    if max_images is not None and n_right + n_wrong > max_images:
        n_wrong = round(max_images * wrong_share)
        n_right = max_images - n_wrong
    rng = random.Random(design.derive_seed(seed, "hive-mix"))
    chosen = rng.sample(list(right), min(n_right, len(right))) + rng.sample(list(wrong), min(n_wrong, len(wrong)))
    return sorted(chosen, key=lambda im: im.id)


def bonus_above_chance(rate: float, correct: int, answered: int, chance: float) -> float | None:
    """rate x max(0, correct - chance x answered), in the study's currency, to the cent."""
    if rate <= 0:
        return None
    return round(rate * max(0.0, correct - chance * answered), 2)
