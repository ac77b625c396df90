"""Class discrimination (Grad-CAM paper, section 5.1): which of an image's two classes does the
explanation show?

Images qualify by the paper's rule: exactly two annotated categories, both known to the model, and
both objects in view after the display's crop. Each main trial shows one method's map for one of the
two classes, masked so the photograph outside the map stays hidden; the participant picks the class.
Attention checks show the photograph cut down to the target's box.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from .. import design
from ..i18n import class_name
from ..stimuli.eligibility import Eligibility, keep_visible
from . import register
from .base import AnswerError, KindContext, Option, Question, Scored, TaskKind
from .presets import Preset, register_preset

QUESTION = gettext_noop("Which of the two object categories is depicted in the image?")


def qualifies(labels: Iterable[str], categories: Iterable[str]) -> bool:
    """The paper's rule: exactly two annotated categories, both known to the model."""
    distinct = set(labels)
    return len(distinct) == 2 and distinct <= set(categories)


def build_bank(
    images: Sequence[design.ImageInfo],
    categories: Sequence[str],
    methods: Sequence[str],
    seed: int,
    max_images: int | None = None,
    attention_checks: int = 0,
) -> list[design.BankEntry]:
    """Every (image, category, method) of the qualifying images, then a pool of attention checks.

    Each main entry shows `method`'s map for `target_class`; the options are the image's two classes.
    """
    eligible = [im for im in images if qualifies(im.labels, categories)]
    chosen = design.choose_images(eligible, max_images, seed)
    bank: list[design.BankEntry] = []
    for image in chosen:
        options = tuple(sorted(set(image.labels)))
        for target in options:
            for method in methods:
                bank.append(design.BankEntry(len(bank), "main", image.id, method, target, options))
    pairs = [(image, target) for image in chosen for target in sorted(set(image.labels))]
    for image, target in design.attention_pool(pairs, attention_checks, seed):
        bank.append(
            design.BankEntry(
                len(bank), "attention", image.id, design.ATTENTION_CROP, target, tuple(sorted(set(image.labels)))
            )
        )
    return bank


@register
class ClassDiscrimination(TaskKind):
    name = "class_discrimination"
    label = "Class discrimination"
    description = "Which of an image's two classes does the explanation show? (Grad-CAM paper, 5.1)"
    default_style = "masked"
    model_fields = {"model": "the model to explain"}

    def config_errors(self, study):
        errors = super().config_errors(study)
        if study.model_id is None:
            errors = ["class discrimination needs the model to explain"] + errors[1:]
        if study.render_style in ("overlay", "heatmap"):
            errors.append(
                "class discrimination stimuli must not show the unmasked photograph: use render style auto or masked"
            )
        return errors

    def eligibility(self, study):
        if study.image_set_id is None or study.model_id is None:
            return None
        return self.eligible_images(study.image_set, study.model, study.min_visible_box_fraction)

    @staticmethod
    def eligible_images(image_set, model, threshold: float = 0.0) -> Eligibility:
        """The paper's rule (exactly two labels, both known to the model), and both objects in view."""
        if image_set is None or model is None:
            return Eligibility([])
        cats = set(model.categories)
        labelled = [
            im
            for im in image_set.images.only("id", "labels", "boxes", "width", "height").order_by("id")
            if qualifies(im.labels, cats)
        ]
        return keep_visible(labelled, [model], threshold, lambda im, shown: set(im.labels) <= shown)

    def eligibility_text(self, study, eligible):
        return f"{eligible} images have exactly two labels that the model knows (the paper's rule)."

    def no_image_error(self):
        return "no image of this set has exactly two labels that the model knows (the paper's rule for class discrimination)"

    def build_bank(self, study, context: KindContext):
        images = [design.ImageInfo(im.id, tuple(im.labels)) for im in context.eligible]
        return build_bank(
            images,
            study.model.categories,
            study.arms,
            study.seed,
            study.max_images,
            study.attention_checks_per_participant,
        )

    def questions(self, assignment, panels):
        options = [Option(o, class_name(o), str(i + 1)) for i, o in enumerate(assignment.option_order)]
        return [Question("choice", _(QUESTION), options, alias="choice")]

    def instructions_context(self, study):
        return {"question": _(QUESTION)}

    def parse_answer(self, assignment, data):
        choice = str(data.get("choice") or "")
        if choice not in assignment.option_order:
            raise AnswerError(_("That answer is not one of the options of this trial."))
        return Scored({"choice": choice}, correct=choice == assignment.trial.target_class)

    def export_values(self, study, assignment, response, panel_models, names):
        options = list(assignment.option_order or assignment.trial.options or [])
        model = panel_models[0] if panel_models and panel_models[0] is not None else study.model_id
        return {
            "model": names.get(model),
            "options": "|".join(options) or None,
            "choice": (response.answer or {}).get("choice") or None,
        }

    def oracle_answer(self, oracle, stimuli, questions, instruction):
        stimulus = stimuli[0] if stimuli else None
        values = questions.get("choice") or []
        if stimulus is None or not values:
            return None
        shares = [oracle.share_in_boxes(stimulus, v) for v in values]
        return {"choice": values[max(range(len(values)), key=shares.__getitem__)]}


register_preset(
    Preset(
        "gradcam-class-discrimination",
        "Grad-CAM class discrimination (Selvaraju et al. 2017)",
        "Selvaraju et al., Grad-CAM, ICCV 2017 / IJCV 2019, section 5.1: PASCAL VOC 2007 images with two "
        "categories, four visualizations, 'Which of the two object categories is depicted in the image?'",
        ClassDiscrimination.name,
        study={"methods": ["deconvnet", "guided_backprop", "deconv_gradcam", "guided_gradcam"], "design": "between"},
        note="Choose the network (the paper's VGG-16) and an image set with two annotated categories per image.",
    )
)
