"""HIVE agreement (Kim et al., ECCV 2022): shown the network's top-1 prediction and its explanation,
do people tell right predictions from wrong ones?

The smallest kind, and the example to copy: one panel, one question on a 4-point scale, a bank
balanced 50/50 between correct and incorrect predictions. A main answer is `correct` when its side of
the scale (1-2: correct, 3-4: incorrect) matches the prediction's; `score` keeps the 1-4 answer, so
the analysis reports the mean agreement on correct and on incorrect predictions.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from .. import design
from . import register
from .base import KindContext, Option, Question, Scored, translated
from .hive_common import BONUS, HiveKind, bonus_above_chance, choose_mix, split_by_correctness
from .presets import Preset, register_preset

QUESTION = gettext_noop("How confident are you that the model's prediction is correct?")
SCALE = [
    (1, gettext_noop("Fairly confident the prediction is correct")),
    (2, gettext_noop("Somewhat confident the prediction is correct")),
    (3, gettext_noop("Somewhat confident the prediction is incorrect")),
    (4, gettext_noop("Fairly confident the prediction is incorrect")),
]
SAYS_CORRECT = (1, 2)


@register
class HiveAgreement(HiveKind):
    name = "hive_agreement"
    label = "HIVE agreement"
    description = "Is the network's prediction right? Judged from its explanation (HIVE)"
    settings = (BONUS,)
    signature_column = "prediction_correct"

    def eligibility_text(self, study, eligible):
        return f"{eligible} images have a label that the model knows; right and wrong predictions are balanced 50/50."

    def no_image_error(self):
        return "no image of this set has a label that the model knows"

    def build_bank(self, study, context: KindContext):
        right, wrong = split_by_correctness(context, study.model)
        chosen = choose_mix(right, wrong, 0.5, study.max_images, study.seed)
        wrong_ids = {im.id for im in wrong}
        bank: list[design.BankEntry] = []
        for im in chosen:
            top = context.predictions[(study.model.id, im.id)][0]
            payload = {"prediction_correct": im.id not in wrong_ids}
            for method in study.arms:
                bank.append(design.BankEntry(len(bank), "main", im.id, method, top, (), payload))
        pool = design.attention_pool([(im, None) for im in chosen], study.attention_checks_per_participant, study.seed)
        for n, (im, _unused) in enumerate(pool):
            value, label = SCALE[(n * 3) % len(SCALE)]
            payload = {
                "prediction_correct": im.id not in wrong_ids,
                "expected_agreement": value,
                "instruction": f"To show that you are reading carefully, please answer \u201c{label}\u201d.",
            }
            top = context.predictions[(study.model.id, im.id)][0]
            bank.append(design.BankEntry(len(bank), "attention", im.id, study.methods[0], top, (), payload))
        return bank

    def surviving_count(self, study, context, bank):
        return len({e.image_id for e in bank if e.kind == "main"})

    def shortfall_reason(self):
        return " balance right and wrong predictions"

    def questions(self, assignment, panels):
        return [Question("agreement", _(QUESTION), [Option(str(v), _(label), str(v)) for v, label in SCALE], "scale")]

    def instructions_context(self, study):
        return {"question": _(QUESTION), "scale": translated(SCALE)}

    def parse_answer(self, assignment, data):
        (question,) = self.questions(assignment, ())
        agreement = int(self.pick(data, question))
        payload = assignment.trial.payload or {}
        if "expected_agreement" in payload:
            correct = agreement == int(payload["expected_agreement"])
        else:
            correct = (agreement in SAYS_CORRECT) == bool(payload.get("prediction_correct"))
        return Scored({"agreement": agreement}, correct=correct, score=float(agreement))

    def export_values(self, study, assignment, response, panel_models, names):
        agreement = (response.answer or {}).get("agreement")
        return {
            "model": names.get(panel_models[0] if panel_models else study.model_id),
            "choice": None if agreement is None else ("correct" if agreement in SAYS_CORRECT else "incorrect"),
            "rating": agreement,
            "prediction_correct": (assignment.trial.payload or {}).get("prediction_correct"),
        }

    def bonus(self, study, main):
        rate = self.settings_of(study)["bonus_per_correct_above_chance"]
        return bonus_above_chance(rate, sum(1 for c, _ in main if c), len(main), 0.5)

    def analyze(self, main, methods, design_name, seed, n_resamples):
        from ..results import analysis

        summary = analysis.class_discrimination_methods(main, methods, seed=seed, n_resamples=n_resamples)
        for method, entry in summary.items():
            rows = main[(main["method"] == method) & main["score"].notna()]
            for key, flag in (("agreement_on_correct", True), ("agreement_on_incorrect", False)):
                part = rows[rows["prediction_correct"] == flag]["score"].astype(float)
                entry[key] = {"n": int(len(part)), "mean": float(part.mean()) if len(part) else None}
        return summary, analysis.class_discrimination_comparisons(main, methods, design_name, summary)

    def oracle_answer(self, oracle, stimuli, questions, instruction):
        values = questions.get("agreement") or []
        if instruction:
            for value, label in SCALE:
                if label.lower() in instruction.lower():
                    return {"agreement": str(value)}
        if not stimuli or stimuli[0] is None:
            return None
        right = stimuli[0].target_class in set(stimuli[0].image.labels)
        return {"agreement": "1" if right else "4"} if values else None


register_preset(
    Preset(
        "hive-agreement",
        "HIVE agreement (Kim et al. 2022)",
        "Kim et al., HIVE, ECCV 2022: one prediction and its explanation, 4-point confidence that it is correct, "
        "correct and incorrect predictions balanced",
        HiveAgreement.name,
        study={"methods": ["gradcam"]},
        note="Choose the network and an image set with labels it knows.",
    )
)
