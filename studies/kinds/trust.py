"""Trust (Grad-CAM paper, section 5.2): which of two networks, shown through their explanations,
seems more reliable?

Images qualify when both networks predict the image's ground-truth class (top-1) and its object
is in view. Each main trial shows the stronger and the weaker network's maps for that class side
by side, their sides drawn at random per participant; the participant rates on a 5-point scale,
stored as displayed and as a score toward the stronger network. Attention checks are
instructed-response items.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from .. import design
from ..stimuli.eligibility import Eligibility, keep_visible
from . import register
from .base import AnswerError, KindContext, Option, PanelSpec, Question, Scored, TaskKind, translated
from .presets import Preset, register_preset

QUESTION = gettext_noop("Which model do you find more reliable?")
# Instructed-response items for trust studies: the participant is told which answer to give.
INSTRUCTED_RATINGS = (2, -2, 0)
RATING_LABELS = {
    2: gettext_noop("Model 1 is clearly more reliable"),
    1: gettext_noop("Model 1 is slightly more reliable"),
    0: gettext_noop("Both are equally reliable"),
    -1: gettext_noop("Model 2 is slightly more reliable"),
    -2: gettext_noop("Model 2 is clearly more reliable"),
}
SCALE = [(value, RATING_LABELS[value]) for value in (2, 1, 0, -1, -2)]


def build_bank(
    pairs: Sequence[tuple[int, str]],
    methods: Sequence[str],
    seed: int,
    max_images: int | None = None,
    attention_checks: int = 0,
) -> list[design.BankEntry]:
    """Every (image, class, method) for the images whose class both networks predict.

    `pairs` are (image id, ground-truth class that both networks predict), one per image.
    """
    by_id = {image_id: target for image_id, target in pairs}
    chosen = design.choose_images([design.ImageInfo(i, (t,)) for i, t in by_id.items()], max_images, seed)
    bank: list[design.BankEntry] = []
    for image in chosen:
        for method in methods:
            bank.append(design.BankEntry(len(bank), "main", image.id, method, image.labels[0], ()))
    pool = design.attention_pool([(im, im.labels[0]) for im in chosen], attention_checks, seed)
    for n, (image, target) in enumerate(pool):
        expected = INSTRUCTED_RATINGS[n % len(INSTRUCTED_RATINGS)]
        payload = {
            "expected_rating": expected,
            "instruction": f"To show that you are reading carefully, please answer \u201c{RATING_LABELS[expected]}\u201d.",
        }
        bank.append(design.BankEntry(len(bank), "attention", image.id, methods[0], target, (), payload))
    return bank


def surviving_pairs(images, predictions, stronger, weaker, visible=None) -> list[tuple[int, str]]:
    """(image id, class) for the images whose ground-truth class both networks predict (top-1 of both),
    and, given `visible` (image id -> labels in view), whose object the participant sees."""
    pairs = []
    for im in images:
        top_s = predictions.get((stronger.id, im.id)) or []
        top_w = predictions.get((weaker.id, im.id)) or []
        labels = im.labels if visible is None else visible.get(im.id, ())
        if top_s and top_w and top_s[0] == top_w[0] and top_s[0] in labels:
            pairs.append((im.id, top_s[0]))
    return pairs


def rating_toward_stronger(rating: int, swapped: bool) -> int:
    """Convert a displayed rating (+2 = Model 1 clearly more reliable) to a score toward the stronger network."""
    return -rating if swapped else rating


@register
class Trust(TaskKind):
    name = "trust"
    label = "Trust (stronger vs weaker network)"
    description = "Which of two networks seems more reliable, from their explanations? (Grad-CAM paper, 5.2)"
    binary_outcome = False
    default_style = "overlay"
    model_fields = {"stronger_model": "the stronger network", "weaker_model": "the weaker network"}
    needs_predictions = True
    signature_column = "rating_toward_stronger"

    def config_errors(self, study):
        if study.stronger_model_id is None or study.weaker_model_id is None:
            return ["trust needs a stronger and a weaker model"]
        if study.stronger_model_id == study.weaker_model_id:
            return ["the stronger and the weaker model must differ"]
        return super().config_errors(study)

    def eligibility(self, study):
        if study.image_set_id is None or study.stronger_model_id is None or study.weaker_model_id is None:
            return None
        return self.eligible_images(
            study.image_set, study.stronger_model, study.weaker_model, study.min_visible_box_fraction
        )

    @staticmethod
    def eligible_images(image_set, stronger, weaker, threshold: float = 0.0) -> Eligibility:
        """Images with a label that both networks know and whose object both show (predictions decide the rest)."""
        if image_set is None or stronger is None or weaker is None:
            return Eligibility([])
        shared = set(stronger.categories) & set(weaker.categories)
        labelled = [im for im in image_set.images.order_by("id") if shared & set(im.labels)]
        return keep_visible(labelled, [stronger, weaker], threshold, lambda im, shown: bool(shared & shown))

    def eligibility_text(self, study, eligible):
        survived = (
            ""
            if study.surviving_image_count is None
            else f" At the last generation, {study.surviving_image_count} survived (both networks predict their class)."
        )
        return (
            f"{eligible} images have a class both models know; those whose class both networks predict are kept "
            f"when stimuli are generated.{survived}"
        )

    def qualify_message(self, eligible):
        return f"{eligible} images have a class both models know."

    def no_image_error(self):
        return "no image of this set has a label that both models know"

    def shortfall_reason(self):
        return " survive the rules"

    def build_bank(self, study, context: KindContext):
        pairs = surviving_pairs(
            context.eligible, context.predictions, study.stronger_model, study.weaker_model, context.visible
        )
        return build_bank(pairs, study.arms, study.seed, study.max_images, study.attention_checks_per_participant)

    def surviving_count(self, study, context, bank):
        return len(
            surviving_pairs(
                context.eligible, context.predictions, study.stronger_model, study.weaker_model, context.visible
            )
        )

    def panels(self, study, trial):
        return [
            PanelSpec(study.stronger_model, trial.method, trial.target_class),
            PanelSpec(study.weaker_model, trial.method, trial.target_class),
        ]

    def present(self, entry, rng):
        options = list(entry.options)
        rng.shuffle(options)
        return tuple(options), {"swapped": rng.random() < 0.5}

    @staticmethod
    def swapped(assignment) -> bool:
        return bool((assignment.presentation or {}).get("swapped"))

    def displayed_panels(self, assignment, panels):
        """(Model 1, Model 2): swapped means the stronger network is Model 2."""
        panels = list(panels)
        return panels[::-1] if self.swapped(assignment) else panels

    def questions(self, assignment, panels):
        return [
            Question(
                "rating",
                _(QUESTION),
                [Option(str(v), _(label), str(i + 1)) for i, (v, label) in enumerate(SCALE)],
                "scale",
                alias="rating",
            )
        ]

    def instructions_context(self, study):
        return {"question": _(QUESTION), "scale": translated(SCALE)}

    def parse_answer(self, assignment, data):
        try:
            rating = int(str(data.get("rating")).strip())
        except (TypeError, ValueError):
            raise AnswerError("The rating is missing or not a whole number.") from None
        if not -2 <= rating <= 2:
            raise AnswerError(f"The rating {rating} is out of range.")
        trial = assignment.trial
        correct = None
        if trial.kind == "attention" and "expected_rating" in (trial.payload or {}):
            correct = rating == int(trial.payload["expected_rating"])
        return Scored(
            {"rating": rating}, correct=correct, score=rating_toward_stronger(rating, self.swapped(assignment))
        )

    def export_values(self, study, assignment, response, panel_models, names):
        answer = response.answer or {}
        return {
            "stronger_model": names.get(study.stronger_model_id),
            "weaker_model": names.get(study.weaker_model_id),
            "rating": answer.get("rating"),
            "rating_toward_stronger": None if response.score is None else int(response.score),
            "swapped": self.swapped(assignment),
        }

    def analyze(self, main, methods, design, seed, n_resamples):
        from ..results import analysis

        summary = analysis.trust_methods(main, methods, seed, n_resamples)
        return summary, analysis.trust_comparisons(main, methods, design, summary)

    def human_measure(self):
        return "mean_rating"

    def plot_names(self):
        return ["trust_answers", "trust_mean", "rt"]

    def oracle_answer(self, oracle, stimuli, questions, instruction):
        values = questions.get("rating") or []
        if instruction:
            # An instructed-response item: the answer's label is quoted in the instruction.
            for value, label in RATING_LABELS.items():
                if label.lower() in instruction.lower() and str(value) in values:
                    return {"rating": str(value)}
        if len(stimuli) != 2 or any(s is None for s in stimuli):
            return None
        target = stimuli[0].target_class
        shares = [oracle.share_in_boxes(s, target) for s in stimuli]
        return {"rating": str(oracle_rating(shares[0], shares[1]))}


def oracle_rating(share_model1: float, share_model2: float) -> int:
    """+2/-2 for a clear difference in box share, +1/-1 for a slight one, 0 for about equal."""
    diff = share_model1 - share_model2
    if abs(diff) < 0.03:
        return 0
    strength = 2 if abs(diff) >= 0.15 else 1
    return strength if diff > 0 else -strength


register_preset(
    Preset(
        "gradcam-trust",
        "Grad-CAM trust (Selvaraju et al. 2017)",
        "Selvaraju et al., Grad-CAM, ICCV 2017 / IJCV 2019, section 5.2: AlexNet against VGG-16 on images both "
        "predict correctly, 5-point scale of which model seems more reliable",
        Trust.name,
        study={"methods": ["guided_backprop", "guided_gradcam"], "design": "between"},
        note="Choose the stronger (VGG-16) and the weaker (AlexNet) network and the image set.",
    )
)
