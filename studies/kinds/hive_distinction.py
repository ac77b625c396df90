"""HIVE distinction (Kim et al., ECCV 2022; princetonvisualai/HIVE, task_gradcam_*.html): can people
tell, from explanations alone, which class the network predicts?

Each trial shows one method's explanations for the network's top-4 predicted classes, as four
numbered panels in a random order drawn per participant; labels under the panels are hidden (the
published Grad-CAM variant) or shown. Two questions, each with a confidence rating from 1 (not
confident at all) to 5 (completely confident): which panel is the class the network predicts (Q1,
scored as `correct`), and which is the correct class (Q2, scored as `score`, 1 or 0). Chance is 25%.
Images qualify when a label in view is among the top 4; a configurable share of them have a wrong
top-1 prediction, as HIVE mixes right and wrong predictions.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from .. import design
from . import register
from .base import KindContext, Option, PanelSpec, Question, Scored, Setting, translated
from .hive_common import (
    BONUS,
    HiveKind,
    bonus_above_chance,
    choose_mix,
    predicted,
    split_by_correctness,
    true_labels,
)
from .presets import Preset, register_preset

PANELS = 4
CONFIDENCE = [
    (1, gettext_noop("Not confident at all")),
    (2, gettext_noop("Slightly confident")),
    (3, gettext_noop("Somewhat confident")),
    (4, gettext_noop("Fairly confident")),
    (5, gettext_noop("Completely confident")),
]
Q_PREDICTED = gettext_noop("Which class do you think the model predicts?")
Q_CORRECT = gettext_noop("Which class do you think is correct?")
Q_CONFIDENCE = gettext_noop("How confident are you in your answer?")
SHOW_LABELS = Setting(
    "show_labels",
    "Show class labels under the panels",
    bool,
    False,
    "HIVE's Grad-CAM task hides them (the published variant); shown, participants read the four classes.",
)
WRONG_SHARE = Setting(
    "incorrect_share",
    "Share of images with a wrong top-1 prediction",
    float,
    0.5,
    "HIVE mixes correct and incorrect predictions; images are drawn by the seed to give this share.",
    minimum=0.0,
    maximum=1.0,
)


@register
class HiveDistinction(HiveKind):
    name = "hive_distinction"
    label = "HIVE distinction"
    description = "Which of four explanations is for the predicted class, and which for the correct one? (HIVE)"
    settings = (SHOW_LABELS, WRONG_SHARE, BONUS)
    signature_column = "confidence"

    def eligibility_text(self, study, eligible):
        return (
            f"{eligible} images have a label that the model knows; those with a label among the model's top 4 "
            "predictions are kept when stimuli are generated."
        )

    def no_image_error(self):
        return "no image of this set has a label that the model knows"

    def build_bank(self, study, context: KindContext):
        model, settings = study.model, self.settings_of(study)
        right, wrong = split_by_correctness(context, model)

        def usable(im):  # four panels, and the correct class among them (Q2 needs it)
            top = predicted(context, model, im)
            return len(top) >= PANELS and bool(set(top[:PANELS]) & set(true_labels(context, im)))

        right, wrong = [im for im in right if usable(im)], [im for im in wrong if usable(im)]
        chosen = choose_mix(right, wrong, settings["incorrect_share"], study.max_images, study.seed)
        bank: list[design.BankEntry] = []
        for im in chosen:
            top = tuple(predicted(context, model, im)[:PANELS])
            truth = next(c for c in top if c in true_labels(context, im))
            payload = {"true_class": truth, "prediction_correct": top[0] == truth}
            for method in study.arms:
                bank.append(design.BankEntry(len(bank), "main", im.id, method, top[0], top, payload))
        pool = design.attention_pool([(im, None) for im in chosen], study.attention_checks_per_participant, study.seed)
        for n, (im, _unused) in enumerate(pool):
            top = tuple(predicted(context, model, im)[:PANELS])
            panel = n % PANELS + 1
            payload = {
                "true_class": next(c for c in top if c in true_labels(context, im)),
                "prediction_correct": top[0] in true_labels(context, im),
                "expected_panel": panel,
                "instruction": f"To show that you are reading carefully, please choose panel {panel} for both questions.",
            }
            bank.append(design.BankEntry(len(bank), "attention", im.id, study.methods[0], top[0], top, payload))
        return bank

    def surviving_count(self, study, context, bank):
        return len({e.image_id for e in bank if e.kind == "main"})

    def shortfall_reason(self):
        return " have a label among the model's top 4"

    def panels(self, study, trial):
        return [PanelSpec(study.model, trial.method, c) for c in trial.options]

    def present(self, entry, rng):
        order = list(range(len(entry.options)))
        rng.shuffle(order)
        return tuple(entry.options[i] for i in order), {"panel_order": order}

    def displayed_panels(self, assignment, panels):
        panels = list(panels)
        order = (assignment.presentation or {}).get("panel_order") or list(range(len(panels)))
        return [panels[i] for i in order if i < len(panels)]

    def questions(self, assignment, panels):
        numbers = [
            Option(str(i + 1), _("Panel %(number)s") % {"number": i + 1}, str(i + 1))
            for i in range(len(assignment.option_order))
        ]
        confidence = [Option(str(v), _(label), str(v)) for v, label in CONFIDENCE]
        return [
            Question("predicted", _(Q_PREDICTED), numbers),
            Question("confidence", _(Q_CONFIDENCE), confidence, "scale"),
            Question("correct_class", _(Q_CORRECT), numbers),
            Question("correct_confidence", _(Q_CONFIDENCE), confidence, "scale"),
        ]

    def trial_context(self, study, assignment, panels):
        return {
            **super().trial_context(study, assignment, panels),
            "show_labels": self.settings_of(study)["show_labels"],
        }

    def instructions_context(self, study):
        return {"confidence": translated(CONFIDENCE), "show_labels": self.settings_of(study)["show_labels"]}

    def parse_answer(self, assignment, data):
        qs = {q.name: q for q in self.questions(assignment, ())}
        values = {name: self.pick(data, q) for name, q in qs.items()}
        classes = list(assignment.option_order)
        predicted_class = classes[int(values["predicted"]) - 1]
        correct_class = classes[int(values["correct_class"]) - 1]
        payload = assignment.trial.payload or {}
        answer = {
            "predicted_panel": int(values["predicted"]),
            "predicted": predicted_class,
            "confidence": int(values["confidence"]),
            "correct_panel": int(values["correct_class"]),
            "correct_class": correct_class,
            "correct_confidence": int(values["correct_confidence"]),
        }
        if assignment.trial.kind == "attention" and "expected_panel" in payload:
            expected = int(payload["expected_panel"])
            ok = answer["predicted_panel"] == expected and answer["correct_panel"] == expected
            return Scored(answer, correct=ok, confidence=answer["confidence"])
        return Scored(
            answer,
            correct=predicted_class == assignment.trial.target_class,
            score=1.0 if correct_class == payload.get("true_class") else 0.0,
            confidence=answer["confidence"],
        )

    def export_values(self, study, assignment, response, panel_models, names):
        answer = response.answer or {}
        return {
            "model": names.get(panel_models[0] if panel_models else study.model_id),
            "options": "|".join(assignment.option_order or []) or None,
            "choice": answer.get("predicted"),
            "prediction_correct": (assignment.trial.payload or {}).get("prediction_correct"),
        }

    def bonus(self, study, main):
        rate = self.settings_of(study)["bonus_per_correct_above_chance"]
        correct = sum(1 for c, _ in main if c) + sum(1 for _, s in main if s == 1)
        return bonus_above_chance(rate, correct, 2 * len(main), 1 / PANELS)

    def analyze(self, main, methods, design_name, seed, n_resamples):
        from ..results import analysis

        summary = analysis.class_discrimination_methods(main, methods, seed=seed, n_resamples=n_resamples)
        for method, entry in summary.items():
            rows = main[(main["method"] == method) & main["score"].notna()]
            k, n = int((rows["score"] == 1).sum()), len(rows)
            low, high = analysis.wilson_interval(k, n)
            entry["correct_class"] = {
                "n": n,
                "correct": k,
                "accuracy": k / n if n else None,
                "ci_low": low,
                "ci_high": high,
                "p_vs_chance": analysis.binomial_vs_chance(k, n, 1 / PANELS) if n else None,
            }
            conf = main.loc[main["method"] == method, "confidence"].dropna()
            entry["mean_confidence"] = float(conf.astype(float).mean()) if len(conf) else None
        q2 = main[main["score"].notna()].assign(correct=lambda f: f["score"] == 1)
        q2_summary = {method: summary[method]["correct_class"] for method in methods}
        analysis.add_design_aware_accuracy(q2_summary, q2, methods, seed=seed, n_resamples=n_resamples)
        return summary, analysis.class_discrimination_comparisons(main, methods, design_name, summary)

    def oracle_answer(self, oracle, stimuli, questions, instruction):
        numbers = questions.get("predicted") or []
        if instruction and numbers:
            for value in numbers:
                if f"panel {value}" in instruction.lower():
                    return {"predicted": value, "confidence": "5", "correct_class": value, "correct_confidence": "5"}
        if len(stimuli) != len(numbers) or any(s is None for s in stimuli):
            return None
        top = oracle.prediction(stimuli[0])
        if not top:
            return None
        panels = dict(zip(numbers, stimuli, strict=True))
        predicted_panel = next((v for v, s in panels.items() if s.target_class == top[0]), None)
        labels = set(stimuli[0].image.labels)
        # The correct class: the image's label that the network ranks highest (as the bank chose it).
        correct = sorted((top.index(s.target_class), v) for v, s in panels.items() if s.target_class in labels)
        if predicted_panel is None or not correct:
            return None
        return {
            "predicted": predicted_panel,
            "confidence": "5",
            "correct_class": correct[0][1],
            "correct_confidence": "5",
        }


register_preset(
    Preset(
        "hive-distinction",
        "HIVE distinction (Kim et al. 2022)",
        "Kim et al., HIVE, ECCV 2022 (princetonvisualai/HIVE, task_gradcam_nolabels.html): the top-4 classes' "
        "explanations, labels hidden; which one the model predicts, and which is correct",
        HiveDistinction.name,
        kind_settings={"show_labels": False, "incorrect_share": 0.5},
        study={"methods": ["gradcam"]},
        note="Choose the network and an image set with labels it knows.",
    )
)
