"""Forward simulation, the meta-predictor protocol (Colin, Fel et al., NeurIPS 2022, "What I cannot
predict, I do not understand"; serre-lab/Meta-predictor): do explanations help people learn to
predict what the network will decide on images it has not explained?

Each participant does rounds of a learning block then a test block (3 rounds of 8 + 8 by default).
A learning trial shows an image, the network's top-1 prediction and, in an explanation arm, that
method's map of the prediction (in the no-explanation control arm, the photograph alone); the
participant studies it and goes on (an acknowledgement, not scored: the paper's learning phase shows,
it does not test). A test trial shows a new image alone, without prediction or map, and the
participant predicts the network's decision among its output classes (or only the classes it
predicts on the study's images); `correct` is whether they named the network's top-1 class. The
outcome is test accuracy per arm, and a method's utility is its accuracy minus the control arm's
(studies.results.analysis.arms_accuracy_and_utility). Between subjects only: a participant learns
the network through one arm.

Scenarios (the paper's three use cases), chosen in the settings or through the presets:
- bias: a share of the images carry an annotated background cue (boxes marked `cue:` in labels.csv)
  and get the decision the cue stands for although they do not show that class (the class the
  network predicts most often on cue images that do not show it), the others carry no cue: the
  demo's weak network takes diagonal stripes for a star;
- failure cases: a share of the images are ones the network gets wrong;
- expert strategy: images at random.
Every block of a participant keeps the scenario's share, as near as its size allows.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from .. import design
from ..i18n import class_name
from . import register
from .base import AnswerError, KindContext, Option, PanelSpec, Question, Scored, Setting, TaskKind
from .hive_common import labelled_images, predicted, split_by_correctness, true_labels
from .presets import Preset, register_preset

LEARNING, TEST = "learning", "test"
EXPERT, FAILURES, BIAS = "expert_strategy", "failure_cases", "bias"
Q_LEARNING = gettext_noop("Study the model's decision, then go on.")
Q_TEST = gettext_noop("Which class will the model predict for this image?")
ACKNOWLEDGE = "seen"
# The bots' oracle takes a map to point at an object or cue when its mass there is this many times
# denser than over the whole map (a map that shows nothing in particular teaches nothing).
POINTED_LIFT = 1.5

ROUNDS = Setting("rounds", "Rounds (a learning block, then a test block)", int, 3, minimum=1, maximum=10)
LEARNING_TRIALS = Setting(
    "learning_per_round", "Learning trials per round", int, 8, "Images shown with the model's decision.", 1, 50
)
TEST_TRIALS = Setting(
    "test_per_round", "Test trials per round", int, 8, "New images whose decision the participant predicts.", 1, 50
)
SCENARIO = Setting(
    "scenario",
    "Scenario",
    str,
    EXPERT,
    "Which images the blocks show (Colin, Fel et al. 2022's three use cases).",
    choices=(
        (EXPERT, "Expert strategy: images at random"),
        (FAILURES, "Failure cases: a share of images the model gets wrong"),
        (BIAS, "Bias: a share of images whose decision follows an annotated background cue"),
    ),
)
INCORRECT_SHARE = Setting(
    "incorrect_share",
    "Failure cases: share of images the model gets wrong",
    float,
    0.5,
    "In every block, as near as its size allows.",
    minimum=0.05,
    maximum=0.95,
)
CUE_SHARE = Setting(
    "cue_share",
    "Bias: share of images whose decision follows the cue",
    float,
    0.5,
    "Images with a box marked as a cue (`cue:<name>` in labels.csv) that get the class the cue stands for without "
    "showing it; the others have no cue. In every block, as near as its size allows.",
    minimum=0.05,
    maximum=0.95,
)
ANSWER_OPTIONS = Setting(
    "answer_options",
    "Classes offered in the test",
    str,
    "all",
    "Every output class of the model, or only those it predicts on the study's images.",
    choices=(("all", "Every output class of the model"), ("predicted", "The classes it predicts on these images")),
)


# How the refusals name the scenario's images.
SPECIAL = {FAILURES: "the model gets wrong", BIAS: "with a cue the decision follows"}


def has_cue(image) -> bool:
    return any(b.get("cue") for b in image.boxes or [])


def follows_the_cue(context: KindContext, model, cue_images: Sequence) -> list:
    """The cue images whose decision follows the cue: the network predicts the class the cue stands for
    and the image does not show it. That class is the one it predicts most often on cue images that
    do not show their predicted class (the demo's weak network: star, on stripes)."""
    off_label = Counter()
    for im in cue_images:
        top = predicted(context, model, im)[0]
        if top not in true_labels(context, im):
            off_label[top] += 1
    if not off_label:
        return []
    cue_class = min(off_label, key=lambda c: (-off_label[c], c))
    return [
        im
        for im in cue_images
        if predicted(context, model, im)[0] == cue_class and cue_class not in true_labels(context, im)
    ]


def images_needed(settings: dict) -> int:
    return settings["rounds"] * (settings["learning_per_round"] + settings["test_per_round"])


def share_split(total: int, share: float) -> tuple[int, int]:
    """(images of the scenario's kind, the others) among `total`: the share rounded up."""
    special = min(total, math.ceil(total * share))
    return special, total - special


def shortage(special_name: str, have_special: int, have_other: int, settings: dict, share: float) -> str:
    """Why the images cannot fill a participant's blocks (empty when they can), with the counts."""
    needed = images_needed(settings)
    want_special, want_other = share_split(needed, share)
    if have_special >= want_special and have_other >= want_other:
        return ""
    return (
        f"forward simulation needs {needed} images per participant ({settings['rounds']} rounds of "
        f"{settings['learning_per_round']} + {settings['test_per_round']}), {want_special} of them {special_name} "
        f"and {want_other} not; the images give {have_special} {special_name} and {have_other} not"
    )


def interleave(strata: Sequence[list], shares: Sequence[float]) -> list:
    """The strata's items in one sequence whose every prefix keeps the shares as nearly as it can."""
    taken = [0] * len(strata)
    out = []
    while any(taken[i] < len(s) for i, s in enumerate(strata)):
        n = len(out) + 1
        open_ = [i for i, s in enumerate(strata) if taken[i] < len(s)]
        i = max(open_, key=lambda k: (n * shares[k] - taken[k], -k))
        out.append(strata[i][taken[i]])
        taken[i] += 1
    return out


@register
class ForwardSimulation(TaskKind):
    name = "forward_simulation"
    label = "Forward simulation (meta-predictor)"
    description = "Learn the model from its decisions (and explanations), then predict its decisions (Colin et al.)"
    model_fields = {"model": "the model whose decisions participants learn"}
    settings = (ROUNDS, LEARNING_TRIALS, TEST_TRIALS, SCENARIO, INCORRECT_SHARE, CUE_SHARE, ANSWER_OPTIONS)
    needs_predictions = True
    supports_control_arm = True
    signature_column = "round"  # an integer column: empty cells read as missing
    export_columns = {"block": str, "round": int, "stratum": str}
    default_style = "overlay"

    # --- configuration -------------------------------------------------------------------------
    def config_errors(self, study):
        errors = super().config_errors(study)
        if errors:
            return errors
        settings = self.settings_of(study)
        needed = images_needed(settings)
        if study.design != "between":
            errors.append("forward simulation is between subjects: a participant learns the model through one arm")
        if study.trials_per_participant != needed:
            errors.append(
                f"forward simulation shows {needed} images per participant ({settings['rounds']} rounds of "
                f"{settings['learning_per_round']} learning + {settings['test_per_round']} test trials): "
                f"set trials per participant to {needed}"
            )
        found = self.eligibility(study)
        if found is not None:
            images = found.images
            if settings["scenario"] == BIAS:
                # Before predictions: the cue images bound those whose decision follows the cue.
                cue = sum(1 for im in images if has_cue(im))
                errors.append(shortage("with a cue", cue, len(images) - cue, settings, settings["cue_share"]))
            if settings["scenario"] != EXPERT and not any(errors):
                errors.append(self._stored_shortage(study, images, settings))
            elif settings["scenario"] == EXPERT and len(images) < needed:
                errors.append(f"forward simulation needs {needed} images per participant; {len(images)} qualify")
        return [e for e in errors if e]

    def _stored_shortage(self, study, images, settings) -> str:
        """The scenario's counts from stored predictions, when the model's current weights have them
        for every image (else the planning refuses, once it has computed them)."""
        from ..models import Prediction

        stored = dict(
            Prediction.objects.filter(
                model=study.model, weights_sha256=study.model.weights_sha256, image__in=[im.id for im in images]
            ).values_list("image_id", "top_labels")
        )
        if len(stored) < len(images) or not images:
            return ""
        context = KindContext(images, {}, {(study.model.id, i): top for i, top in stored.items()})
        special, share, other = self.strata(study, context)
        return shortage(SPECIAL[settings["scenario"]], len(special), len(other), settings, share)

    def eligibility(self, study):
        if study.image_set_id is None or study.model_id is None:
            return None
        return labelled_images(study.image_set, study.model, study.min_visible_box_fraction)

    def eligibility_text(self, study, eligible):
        return f"{eligible} images have a label that the model knows; the scenario chooses among them."

    def no_image_error(self):
        return "no image of this set has a label that the model knows"

    def shortfall_reason(self):
        return " fit the scenario"

    # --- the bank ------------------------------------------------------------------------------
    def strata(self, study, context: KindContext) -> tuple[list, float, list]:
        """(special images, their share, the others): the scenario's two kinds of image, by id."""
        settings = self.settings_of(study)
        usable = sorted((im for im in context.eligible if predicted(context, study.model, im)), key=lambda im: im.id)
        if settings["scenario"] == FAILURES:
            right, wrong = split_by_correctness(context, study.model)
            return wrong, settings["incorrect_share"], right
        if settings["scenario"] == BIAS:
            cue_images = [im for im in usable if has_cue(im)]
            followers = follows_the_cue(context, study.model, cue_images)
            return followers, settings["cue_share"], [im for im in usable if not has_cue(im)]
        return [], 0.0, usable

    def build_bank(self, study, context: KindContext):
        from ..stimuli.configuration import StudyError

        settings = self.settings_of(study)
        special, share, other = self.strata(study, context)
        if settings["scenario"] != EXPERT:
            reason = shortage(SPECIAL[settings["scenario"]], len(special), len(other), settings, share)
            if reason:
                raise StudyError(reason)
        stratum_name = {FAILURES: ("wrong", "right"), BIAS: ("cue", "no_cue")}.get(settings["scenario"], ("", "any"))
        rng = random.Random(design.derive_seed(study.seed, "forward-simulation"))
        chosen = [(im, stratum_name[0]) for im in special] + [(im, stratum_name[1]) for im in other]
        if study.max_images is not None and len(chosen) > study.max_images:
            n_special, n_other = share_split(study.max_images, share)
            chosen = [(im, stratum_name[0]) for im in rng.sample(special, min(n_special, len(special)))] + [
                (im, stratum_name[1]) for im in rng.sample(other, min(n_other, len(other)))
            ]
        chosen.sort(key=lambda pair: pair[0].id)
        tops = {im.id: predicted(context, study.model, im)[0] for im, _ in chosen}
        options = self.answer_classes(study, settings, tops.values())
        right = {im.id for im in split_by_correctness(context, study.model)[0]}
        bank: list[design.BankEntry] = []
        for im, stratum in chosen:
            base = {"stratum": stratum, "prediction_correct": im.id in right}
            for arm in study.arms:
                for block in (LEARNING, TEST):
                    payload = {**base, "block": block}
                    entry_options = () if block == LEARNING else options
                    bank.append(design.BankEntry(len(bank), "main", im.id, arm, tops[im.id], entry_options, payload))
        pool = design.attention_pool(chosen, study.attention_checks_per_participant, study.seed)
        for n, (im, stratum) in enumerate(pool):
            expected = options[(n * 5 + 1) % len(options)]
            payload = {
                "block": TEST,
                "stratum": stratum,
                "prediction_correct": im.id in right,
                "expected_class": expected,
                "instruction": f"To show that you are reading carefully, please answer \u201c{expected}\u201d.",
            }
            bank.append(
                design.BankEntry(len(bank), "attention", im.id, design.NO_EXPLANATION, tops[im.id], options, payload)
            )
        return bank

    @staticmethod
    def answer_classes(study, settings, tops) -> tuple[str, ...]:
        categories = list(study.model.categories)
        if settings["answer_options"] == "predicted":
            seen = set(tops)
            return tuple(c for c in categories if c in seen)
        return tuple(categories)

    def surviving_count(self, study, context, bank):
        return len({e.image_id for e in bank if e.kind == "main"})

    def panels(self, study, trial):
        block = (trial.payload or {}).get("block")
        # A learning trial shows its arm's map of the prediction (the plain photograph in the control
        # arm); a test trial and an attention check show the photograph alone, whatever the arm.
        method = trial.method if block == LEARNING else design.NO_EXPLANATION
        return [PanelSpec(study.model, method, trial.target_class)]

    # --- a participant's rounds ----------------------------------------------------------------
    def participant_plan(self, study, bank, *, arms, participant_seed, condition, latin_row):
        """Rounds of a learning block then a test block, each block keeping the scenario's share.

        The images are drawn by the participant's seed, each used once (learning or test); each
        block's trials are in random order; attention checks go into test blocks, never first.
        """
        if condition not in arms:
            raise ValueError(f"condition {condition!r} is not one of the study's arms")
        settings = self.settings_of(study)
        rng = random.Random(participant_seed)
        entries = {(e.image_id, e.payload.get("block")): e for e in bank if e.is_main and e.method == condition}
        by_stratum: dict[str, list[int]] = {}
        for (image_id, block), e in sorted(entries.items()):
            if block == TEST:
                by_stratum.setdefault(e.payload.get("stratum", ""), []).append(image_id)
        special = next((n for n in ("wrong", "cue") if n in by_stratum), None)
        share = settings["incorrect_share"] if special == "wrong" else settings["cue_share"]
        # The scenario's images first, then the others (share_split's order).
        names = [special, *sorted(set(by_stratum) - {special})] if special else sorted(by_stratum)
        strata = []
        for name in names:
            pool = list(by_stratum.get(name, []))
            rng.shuffle(pool)
            strata.append(pool)
        shares = [share, 1 - share] if special and len(strata) == 2 else [1.0 / len(strata)] * len(strata)
        learn_n, test_n = settings["learning_per_round"], settings["test_per_round"]
        learning_images, test_images = draw_blocks(
            strata, shares, settings["rounds"] * learn_n, settings["rounds"] * test_n
        )
        checks = [e for e in bank if e.is_attention_check]
        checks = rng.sample(checks, min(study.attention_checks_per_participant, len(checks)))
        check_rounds = [rng.randrange(settings["rounds"]) for _ in checks]
        plan, position = [], 0
        for r in range(settings["rounds"]):
            learning = learning_images[r * learn_n : (r + 1) * learn_n]
            test = test_images[r * test_n : (r + 1) * test_n]
            if not learning or not test:
                break
            rng.shuffle(learning)
            rng.shuffle(test)
            blocks = [(LEARNING, [entries[(i, LEARNING)] for i in learning])]
            test_entries = [entries[(i, TEST)] for i in test]
            for check, round_ in zip(checks, check_rounds, strict=True):
                if round_ == r:
                    test_entries.insert(rng.randint(1, len(test_entries)), check)
            blocks.append((TEST, test_entries))
            for block, block_entries in blocks:
                for e in block_entries:
                    presentation = {"block": block, "round": r + 1}
                    plan.append(
                        design.PlannedTrial(position, e.index, e.is_attention_check, tuple(e.options), presentation)
                    )
                    position += 1
        return plan

    # --- the page ------------------------------------------------------------------------------
    @staticmethod
    def block_of(assignment) -> str:
        return (assignment.presentation or {}).get("block") or (assignment.trial.payload or {}).get("block") or TEST

    def questions(self, assignment, panels):
        if self.block_of(assignment) == LEARNING:
            return [Question(ACKNOWLEDGE, _(Q_LEARNING), [Option("ok", _("Next"), "n")])]
        options = assignment.option_order or assignment.trial.options
        return [Question("predicted", _(Q_TEST), [Option(c, class_name(c), str(i + 1)) for i, c in enumerate(options)])]

    def trial_context(self, study, assignment, panels):
        settings = self.settings_of(study)
        block = self.block_of(assignment)
        return {
            **super().trial_context(study, assignment, panels),
            "phase": block,  # not "block": the template language's own name
            "round": (assignment.presentation or {}).get("round"),
            "rounds": settings["rounds"],
            "with_map": assignment.trial.method != design.NO_EXPLANATION,
        }

    def instructions_context(self, study):
        settings = self.settings_of(study)
        return {
            "rounds": settings["rounds"],
            "learning_per_round": settings["learning_per_round"],
            "test_per_round": settings["test_per_round"],
            "question": _(Q_TEST),
            "no_explanation": design.NO_EXPLANATION,
        }

    # --- answers -------------------------------------------------------------------------------
    def parse_answer(self, assignment, data):
        (question,) = self.questions(assignment, ())
        value = self.pick(data, question)
        trial = assignment.trial
        if question.name == ACKNOWLEDGE:
            return Scored({ACKNOWLEDGE: True})
        payload = trial.payload or {}
        if trial.kind == "attention":
            if "expected_class" not in payload:
                raise AnswerError(_("This trial cannot be answered."))
            return Scored({"predicted": value}, correct=value == payload["expected_class"])
        return Scored({"predicted": value}, correct=value == trial.target_class)

    def export_values(self, study, assignment, response, panel_models, names):
        answer = response.answer or {}
        payload = assignment.trial.payload or {}
        return {
            "model": names.get(panel_models[0] if panel_models else study.model_id),
            "options": "|".join(assignment.option_order or []) or None,
            "choice": answer.get("predicted"),
            "prediction_correct": payload.get("prediction_correct"),
            "block": self.block_of(assignment),
            "round": (assignment.presentation or {}).get("round"),
            "stratum": payload.get("stratum") or None,
        }

    # --- analysis ------------------------------------------------------------------------------
    def analyze(self, main, methods, design_name, seed, n_resamples):
        """Test accuracy per arm and each method's utility over the control arm; beside them the
        accuracy per round (the learning curve) and per stratum (cue / no cue, wrong / right)."""
        import pandas as pd

        from ..results import analysis

        test = main[main["block"] == TEST] if "block" in main else main
        summary, comparisons = analysis.arms_accuracy_and_utility(
            test, methods, design_name, seed=seed, n_resamples=n_resamples
        )
        rounds = pd.to_numeric(test["round"], errors="coerce") if "round" in test else None
        for arm, entry in summary.items():
            rows = test[(test["method"] == arm) & test["correct"].notna()]
            correct = rows["correct"].astype(bool)
            entry["by_round"] = (
                {
                    str(int(r)): float(correct[rounds.loc[rows.index] == r].mean())
                    for r in sorted(rounds.loc[rows.index].dropna().unique())
                }
                if rounds is not None
                else {}
            )
            strata = rows["stratum"].fillna("") if "stratum" in rows else pd.Series("", index=rows.index)
            entry["by_stratum"] = {
                str(s): {"n": int((strata == s).sum()), "accuracy": float(correct[strata == s].mean())}
                for s in sorted(set(strata) - {""})
            }
        return summary, comparisons

    def plot_names(self):
        return ["accuracy", "accuracy_by_round", "rt"]

    # --- simulated participants ----------------------------------------------------------------
    def oracle_answer(self, oracle, stimuli, questions, instruction):
        """Learning: remember the decision, and in an explanation arm what the map points at (the
        object or cue of the image whose box holds the map's mass most densely, if clearly denser
        than the map overall) as evidence for that decision. Test: the decision the remembered evidence of the image's objects and cues
        favours; without any, the decision seen most often in learning (all a control-arm
        participant can go by)."""
        memory = getattr(oracle, "memory", {})
        if ACKNOWLEDGE in questions:
            if stimuli and stimuli[0] is not None:
                learn_from(oracle, memory, stimuli[0])
            return {ACKNOWLEDGE: "ok"}
        options = questions.get("predicted") or []
        if instruction:
            named = [c for c in options if f"\u201c{c}\u201d" in instruction]
            return {"predicted": named[0]} if named else None
        if not options or not stimuli or stimuli[0] is None:
            return None
        guess = predict_from_memory(memory, features(stimuli[0].image), options)
        return {"predicted": guess} if guess else None


def features(image) -> set[str]:
    """What a participant sees in a photograph: its objects and its annotated cues, by name."""
    return set(image.labels) | {b["label"] for b in image.boxes or [] if b.get("cue")}


def learn_from(oracle, memory: dict, stimulus) -> None:
    decision = stimulus.target_class
    memory.setdefault("decisions", Counter())[decision] += 1
    if stimulus.method == design.NO_EXPLANATION:
        return
    lifts = {f: oracle.lift_in_boxes(stimulus, f) for f in sorted(features(stimulus.image))}
    if lifts and max(lifts.values()) >= POINTED_LIFT:
        pointed = max(lifts, key=lambda f: (lifts[f], f))
        memory.setdefault("evidence", {}).setdefault(pointed, Counter())[decision] += 1


def predict_from_memory(memory: dict, seen: set[str], options: Sequence[str]) -> str | None:
    evidence = memory.get("evidence", {})
    votes = Counter()
    for f in seen:
        votes.update(evidence.get(f, Counter()))
    ranked = [c for c, _ in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0])) if c in options]
    if ranked:
        return ranked[0]
    decisions = memory.get("decisions", Counter())
    base = [c for c, _ in sorted(decisions.items(), key=lambda kv: (-kv[1], kv[0])) if c in options]
    return base[0] if base else None


def draw_blocks(strata: Sequence[list], shares: Sequence[float], learning: int, test: int) -> tuple[list, list]:
    """(learning images, test images) from the shuffled strata: each stratum gives its share of
    both, and each sequence is interleaved, so that every round's block keeps the shares."""
    learn_pools, test_pools = [], []
    for pool, want_learning, want_test in zip(strata, _counts(learning, shares), _counts(test, shares), strict=True):
        learn_pools.append(pool[:want_learning])
        test_pools.append(pool[want_learning : want_learning + want_test])
    return interleave(learn_pools, shares), interleave(test_pools, shares)


def _counts(total: int, shares: Sequence[float]) -> list[int]:
    if len(shares) == 2:
        return list(share_split(total, shares[0]))
    return [total] + [0] * (len(shares) - 1)


# The paper's three use cases, one preset each: 3 rounds of 8 + 8, Grad-CAM against no explanation.
PAPER = "Colin, Fel, Cadene, Serre, NeurIPS 2022 (serre-lab/Meta-predictor): 3 rounds of learning then test"
for scenario, label, what, note in (
    (BIAS, "bias", "images whose decision follows a background cue", "whose background cue is annotated (cue:<name>)"),
    (
        FAILURES,
        "failure cases",
        "a share of wrong predictions",
        "with labels it knows, enough of them predicted wrongly",
    ),
    (EXPERT, "expert strategy", "images at random", "with labels it knows"),
):
    register_preset(
        Preset(
            f"meta-predictor-{scenario.replace('_', '-')}",
            f"Meta-predictor: {label} (Colin et al. 2022)",
            f"{PAPER}, on {what}; utility = test accuracy with an explanation minus without",
            ForwardSimulation.name,
            kind_settings={"scenario": scenario, "rounds": 3, "learning_per_round": 8, "test_per_round": 8},
            study={"methods": ["gradcam"], "control_arm": True, "design": "between", "trials_per_participant": 48},
            note=f"Choose the model and an image set {note}.",
        )
    )
