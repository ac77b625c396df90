"""Bias detection (Adebayo et al., 2020 and 2022; Sixt et al., 2022; the Grad-CAM paper's doctor/nurse
bias experiment as a human task): can people tell, from a network's explanations, what it relies on
to recognise a class?

A trial shows a set of images of one class (`images_per_set`, 6 by default), each with the network's
predictions and its explanation for the class (the control arm sees the photographs and predictions
only). The participant answers "What does the network rely on to recognise <class>?" with the
object itself, one of the candidate cues the researcher declares for the image set (`cues`), or
"cannot tell", then rates their confidence; both go with the submit button. A main answer is
`correct` when it is the reliance the researcher declared for that network and class
(`ground_truth`, by network name).

Cue regions: an image marks where a cue is with a `cue:<name>` box (the import format's cue boxes,
which the demo's scenes carry for their stripes). A cue without such boxes (colour, position) has no
region: it can be offered and declared, but neither checked against the maps nor read by the oracle.
The complement of the object's box was not taken as a cue region: it lumps every background cue
together (texture, stripes, the second object) and so could not say which one the network uses.

One rule decides whether a map says the network relies on a cue (`relies_on_cue`): the cue's region
holds more of the map's mass than the object's box. Generation's planning checks every declaration
with it on the networks' Grad-CAM bias summary (studies/tools/failures.py) and flags the ones the
maps contradict; the oracle applies it to the maps a trial shows.

Each set's images are drawn by the seed, disjoint within a class (no image serves two networks or two
sets of the same class), each set led by an image that leads no other set, because a participant sees
each trial image once.
"""

from __future__ import annotations

import random
import re

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from .. import design
from ..i18n import class_name
from ..stimuli.eligibility import Eligibility, keep_visible
from . import register
from .base import AnswerError, KindContext, Option, PanelSpec, Question, Scored, Setting, TaskKind, translated
from .hive_distinction import CONFIDENCE, Q_CONFIDENCE
from .presets import Preset, register_preset

NO_EXPLANATION = design.NO_EXPLANATION
OBJECT, CANNOT_TELL = "object", "cannot_tell"
RESERVED = (OBJECT, CANNOT_TELL)
QUESTION = gettext_noop("What does the network rely on to recognise {target}?")
OBJECT_LABEL = gettext_noop("The {target} itself")
CANNOT_TELL_LABEL = gettext_noop("I cannot tell")
CUE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
CHECK_METHOD = "gradcam"  # the bias summary's method: the declarations are checked on Grad-CAM
CONFIRMED, FLAGGED, UNCHECKED = "confirmed", "flagged", "unchecked"


def check_cues(cues) -> None:
    names = []
    for cue in cues:
        if not isinstance(cue, dict) or not isinstance(cue.get("name"), str) or not isinstance(cue.get("label"), str):
            raise ValueError('each cue is {"name": ..., "label": ...}')
        name = cue["name"]
        if not CUE_NAME.match(name):
            raise ValueError(f"cue name {name!r}: lower-case letters, digits, - and _ only (as in cue:<name> boxes)")
        if name in RESERVED:
            raise ValueError(f"{name!r} is an answer of its own, not a cue name")
        if not cue["label"].strip():
            raise ValueError(f"cue {name!r} needs a label (what participants read)")
        names.append(name)
    if len(names) != len(set(names)):
        raise ValueError("cue names must differ")


def check_ground_truth(truth) -> None:
    for network, classes in truth.items():
        if not isinstance(classes, dict) or not all(isinstance(v, str) for v in classes.values()):
            raise ValueError(f'the ground truth of {network!r} is {{"<class>": "object" or a cue name, ...}}')


IMAGES_PER_SET = Setting(
    "images_per_set", "Images per trial", int, 6, "The images of one class a trial shows together.", 2, 24
)
SETS_PER_CLASS = Setting(
    "sets_per_class",
    "Image sets per network and class",
    int,
    2,
    "Trials (sets of images) for each network and declared class; their images never repeat within a class.",
    1,
    50,
)
CUES = Setting(
    "cues",
    "Candidate cues",
    list,
    [],
    'The answers besides the object and "cannot tell", as JSON: [{"name": "stripes", "label": "The diagonal stripes '
    'in the background"}, ...]. A cue whose images mark it with cue:<name> boxes can be checked against the maps.',
    check=check_cues,
)
GROUND_TRUTH = Setting(
    "ground_truth",
    "What each network relies on (ground truth)",
    dict,
    {},
    'Per network name and class, "object" or a cue name, as JSON: {"<network>": {"star": "stripes", "ring": "object"}}. '
    "The declared classes are the study's; generation flags a declaration that the Grad-CAM maps contradict.",
    check=check_ground_truth,
)


def relies_on_cue(cue_share: float | None, object_share: float | None) -> bool:
    """The one rule by which a map says the network relies on a cue: its region holds more of the
    map's mass than the object's box."""
    if cue_share is None:
        return False
    return cue_share > (object_share or 0.0)


def declaration_check(declared: str, object_share: float | None, cue_shares: dict) -> dict:
    """Whether the maps agree with a declared reliance. `cue_shares` maps each cue with a region on
    the class's images to its mean share of the map's mass (cues without regions are absent)."""
    shares = {"object": object_share, **cue_shares}
    if declared != OBJECT and declared not in cue_shares:
        return {"status": UNCHECKED, "reason": f"no image of the class marks a cue:{declared} region", "shares": shares}
    relied = sorted(c for c, share in cue_shares.items() if relies_on_cue(share, object_share))
    if declared == OBJECT:
        ok = not relied
        reason = "" if ok else f"declared the object, but {', '.join(relied)} hold more mass than the object's box"
    else:
        ok = declared in relied
        reason = "" if ok else f"declared {declared}, but its region holds less mass than the object's box"
    return {"status": CONFIRMED if ok else FLAGGED, "reason": reason, "shares": shares}


@register
class BiasDetection(TaskKind):
    name = "bias_detection"
    label = "Bias detection"
    description = "What does the network rely on to recognise a class: the object, or a cue? (Adebayo et al.)"
    default_style = "overlay"
    model_fields = {"model": "the network examined", "weaker_model": "a second network examined"}
    optional_model_fields = ("weaker_model",)
    settings = (IMAGES_PER_SET, SETS_PER_CLASS, CUES, GROUND_TRUTH)
    needs_predictions = True
    supports_control_arm = True
    signature_column = "declared_reliance"
    export_columns = {"declared_reliance": str, "declaration_check": str}

    # --- configuration -------------------------------------------------------------------------
    def config_errors(self, study):
        errors = super().config_errors(study)
        if errors:
            return errors
        s = self.settings_of(study)
        if not s["cues"]:
            errors.append("bias detection needs the candidate cues (at least one)")
        networks = {m.name: m for m in self.models(study)}
        truth = s["ground_truth"]
        for name in sorted(set(truth) - set(networks)):
            errors.append(f"the ground truth names {name!r}, which is none of this study's networks")
        cue_names = {c["name"] for c in s["cues"]}
        for name, model in networks.items():
            declared = truth.get(name) or {}
            if not declared:
                errors.append(f"declare what {name!r} relies on for at least one class (ground truth)")
            for cls, reliance in sorted(declared.items()):
                if cls not in model.categories:
                    errors.append(f"{name!r} has no class {cls!r}")
                if reliance != OBJECT and reliance not in cue_names:
                    errors.append(f"{name!r} on {cls}: {reliance!r} is neither \u201cobject\u201d nor a declared cue")
        if errors or study.image_set_id is None:
            return errors
        return self.shortage(study, self.eligibility(study))

    def shortage(self, study, eligible: Eligibility) -> list[str]:
        """The refusal, with counts, for each declared class with too few images to fill its sets."""
        errors = []
        per_set, sets = self.settings_of(study)["images_per_set"], self.settings_of(study)["sets_per_class"]
        for cls, networks in self.declared(study).items():
            have = len(self.images_of_class(eligible, cls))
            need = per_set * sets * len(networks)
            if have < need:
                errors.append(
                    f"bias detection needs {need} images of {cls} ({sets} set(s) of {per_set} for each of "
                    f"{len(networks)} network(s)); the image set has {have}"
                )
        return errors

    def declared(self, study) -> dict[str, list]:
        """class -> the study's networks with a declaration for it, in the order of `model_fields`."""
        truth = self.settings_of(study)["ground_truth"]
        out: dict[str, list] = {}
        for model in self.models(study):
            for cls in sorted(truth.get(model.name) or {}):
                out.setdefault(cls, []).append(model)
        return dict(sorted(out.items()))

    @staticmethod
    def images_of_class(eligible: Eligibility, cls: str) -> list:
        return [im for im in eligible.images if cls in eligible.visible.get(im.id, set(im.labels))]

    # --- images and the trial bank -------------------------------------------------------------
    def eligibility(self, study):
        if study.image_set_id is None or study.model_id is None:
            return None
        classes = set(self.declared(study))
        labelled = [im for im in study.image_set.images.order_by("id") if classes & set(im.labels)]
        return keep_visible(
            labelled, self.models(study), study.min_visible_box_fraction, lambda im, s: bool(classes & s)
        )

    def eligibility_text(self, study, eligible):
        return f"{eligible} images show a class whose reliance is declared."

    def no_image_error(self):
        return "no image of this set shows a class whose reliance is declared"

    def measure(self, study, context, get_bundle) -> list[str]:
        """Check every declaration against the network's Grad-CAM bias summary; the results go into
        `context.measured[(model id, class)]` (the trials' payload) and the flags into the job's warning."""
        summaries = {m.id: bias_summary(m, study.image_set, get_bundle) for m in self.models(study)}
        truth = self.settings_of(study)["ground_truth"]
        warnings = []
        for cls, networks in self.declared(study).items():
            for model in networks:
                declared = truth[model.name][cls]
                check = check_from_summary(summaries[model.id], cls, declared)
                context.measured[(model.id, cls)] = check
                if check["status"] == FLAGGED:
                    warnings.append(f"ground truth of {model.name} on {cls} flagged: {check['reason']}")
        return warnings

    def build_bank(self, study, context: KindContext):
        s = self.settings_of(study)
        truth, per_set, sets = s["ground_truth"], s["images_per_set"], s["sets_per_class"]
        options = (OBJECT, *(c["name"] for c in s["cues"]), CANNOT_TELL)
        arms = study.arms
        eligible = Eligibility(list(context.eligible), visible=context.visible)
        rng = random.Random(design.derive_seed(study.seed, "bias-sets"))
        leaders: set[int] = set()
        sets_drawn = []
        for cls, networks in self.declared(study).items():
            pool = sorted(self.images_of_class(eligible, cls), key=lambda im: im.id)
            need = per_set * sets * len(networks)
            if len(pool) < need:  # refused at configuration; a set changed since then gives no trials
                continue
            drawn = rng.sample(pool, need)
            for n, model in enumerate(networks):
                for k in range(sets):
                    members = sorted(drawn[(n * sets + k) * per_set :][:per_set], key=lambda im: im.id)
                    leader = next((im for im in members if im.id not in leaders), None)
                    if leader is None:
                        continue
                    leaders.add(leader.id)
                    members = [leader] + [im for im in members if im is not leader]
                    payload = {
                        "network": model.id,
                        "declared": truth[model.name][cls],
                        "image_ids": [im.id for im in members],
                        "predictions": {
                            str(im.id): shown_predictions(context.predictions.get((model.id, im.id)), im)
                            for im in members
                        },
                        "check": context.measured.get((model.id, cls), {"status": UNCHECKED, "reason": "not checked"}),
                    }
                    sets_drawn.append((leader.id, cls, payload))
        bank: list[design.BankEntry] = []
        for leader, cls, payload in sets_drawn:
            for arm in arms:
                bank.append(design.BankEntry(len(bank), "main", leader, arm, cls, options, payload))
        # With a control arm, the checks show the plain photographs: a map on a check would show the
        # control arm what it must not see, and a photograph tells the other arms nothing.
        checked_arm = NO_EXPLANATION if NO_EXPLANATION in arms else arms[0]
        pool = design.attention_pool(sets_drawn, study.attention_checks_per_participant, study.seed)
        for n, (leader, cls, payload) in enumerate(pool):
            expected = options[n % len(options)]
            label = self.option_label(expected, cls, s["cues"])
            instruction = f"To show that you are reading carefully, please answer \u201c{label}\u201d."
            checked = {**payload, "expected_choice": expected, "instruction": instruction}
            bank.append(design.BankEntry(len(bank), "attention", leader, checked_arm, cls, options, checked))
        return bank

    def surviving_count(self, study, context, bank):
        return len({i for e in bank if e.kind == "main" for i in e.payload["image_ids"]})

    def shortfall_reason(self):
        return " lead an image set"

    def panels(self, study, trial):
        from ..models import ImageItem

        payload = trial.payload or {}
        model = next(m for m in self.models(study) if m.id == payload.get("network"))
        images = ImageItem.objects.in_bulk(payload.get("image_ids") or [trial.image_id])
        return [PanelSpec(model, trial.method, trial.target_class, images[i]) for i in payload["image_ids"]]

    # --- what a participant sees ---------------------------------------------------------------
    def present(self, entry, rng):
        """The object and the cues in a random order; "cannot tell" stays last."""
        options = [o for o in entry.options if o != CANNOT_TELL]
        rng.shuffle(options)
        return tuple(options) + ((CANNOT_TELL,) if CANNOT_TELL in entry.options else ()), {}

    @staticmethod
    def option_label(value: str, target: str, cues) -> str:
        if value == OBJECT:
            return _(OBJECT_LABEL).format(target=class_name(target))
        if value == CANNOT_TELL:
            return _(CANNOT_TELL_LABEL)
        return next((c["label"] for c in cues if c["name"] == value), value)

    def questions(self, assignment, panels):
        trial = assignment.trial
        cues = self.settings_of(trial.study)["cues"]
        order = list(assignment.option_order or trial.options)
        choices = [Option(v, self.option_label(v, trial.target_class, cues), str(i + 1)) for i, v in enumerate(order)]
        confidence = [Option(str(v), _(label), str(v)) for v, label in CONFIDENCE]
        return [
            Question("reliance", _(QUESTION).format(target=class_name(trial.target_class)), choices),
            Question("confidence", _(Q_CONFIDENCE), confidence, "scale"),
        ]

    def trial_context(self, study, assignment, panels):
        predictions = (assignment.trial.payload or {}).get("predictions") or {}
        shown = [(p, predictions.get(str(p.stimulus.image_id), []) if p.stimulus else []) for p in panels]
        return {
            **super().trial_context(study, assignment, panels),
            "shown": shown,
            "explained": assignment.trial.method != NO_EXPLANATION,
        }

    def instructions_context(self, study):
        s = self.settings_of(study)
        return {
            "confidence": translated(CONFIDENCE),
            "cues": s["cues"],
            "images_per_set": s["images_per_set"],
            "control": NO_EXPLANATION in study.arms,
        }

    # --- answers -------------------------------------------------------------------------------
    def parse_answer(self, assignment, data):
        reliance_q, confidence_q = self.questions(assignment, ())
        choice = self.pick(data, reliance_q)
        confidence = int(self.pick(data, confidence_q))
        payload = assignment.trial.payload or {}
        answer = {"reliance": choice, "confidence": confidence}
        if assignment.trial.kind == "attention":
            if "expected_choice" not in payload:
                raise AnswerError("This check has no instructed answer.")
            return Scored(answer, correct=choice == payload["expected_choice"], confidence=confidence)
        return Scored(answer, correct=choice == payload.get("declared"), confidence=confidence)

    # --- export --------------------------------------------------------------------------------
    def export_values(self, study, assignment, response, panel_models, names):
        payload = assignment.trial.payload or {}
        return {
            "model": names.get(payload.get("network")),
            "options": "|".join(assignment.option_order or []) or None,
            "choice": (response.answer or {}).get("reliance"),
            "declared_reliance": payload.get("declared"),
            "declaration_check": (payload.get("check") or {}).get("status"),
        }

    # --- analysis ------------------------------------------------------------------------------
    def analyze(self, main, arms, design_name, seed, n_resamples):
        """Detection accuracy per arm and each method's utility over the control arm (the shared
        per-arm analysis), with the mean confidence and the answers split by the declared reliance."""
        from ..results import analysis

        summary, comparisons = analysis.arms_accuracy_and_utility(
            main, arms, design_name, seed=seed, n_resamples=n_resamples
        )
        for method, entry in summary.items():
            rows = main[main["method"] == method]
            conf = rows["confidence"].dropna()
            entry["mean_confidence"] = float(conf.astype(float).mean()) if len(conf) else None
            by_truth = {}
            for declared, part in rows.groupby("declared_reliance"):
                by_truth[str(declared)] = {"n": int(len(part)), "correct": int(part["correct"].fillna(False).sum())}
            entry["by_declared_reliance"] = by_truth
        return summary, comparisons

    # --- simulated participants ----------------------------------------------------------------
    def oracle_answer(self, oracle, stimuli, questions, instruction):
        choices = questions.get("reliance") or []
        if instruction:
            return instructed_answer(oracle, instruction, choices, stimuli)
        if not stimuli or any(s is None for s in stimuli) or not choices:
            return None
        target = stimuli[0].target_class
        cues = [c for c in choices if c not in RESERVED]
        if stimuli[0].method == NO_EXPLANATION:
            choice = guess_from_predictions(oracle, stimuli, target, cues)
        else:
            choice = read_from_maps(oracle, stimuli, target, cues)
        return {"reliance": choice, "confidence": "5" if choice != CANNOT_TELL else "1"}


def shown_predictions(top, image) -> list[str]:
    """The network's predictions shown under an image: as many of its best as the image has labels."""
    return list(top or [])[: max(1, len(image.labels))]


def bias_summary(model, image_set, get_bundle) -> dict:
    """The network's Grad-CAM bias summary on the image set (studies/tools/failures.py), computed here
    on the worker (or taken from the cache by its content key)."""
    from ..models import AnalysisKind, JobStatus
    from ..tools import analyses

    row, _ = analyses.find_or_create(AnalysisKind.BIAS, model, image_set, "", {"method": CHECK_METHOD})
    row = analyses.do_run_analysis(row.pk, get_bundle)
    if row.status != JobStatus.DONE:
        raise RuntimeError(f"the bias summary of {model.name} failed: {row.error}")
    return row.results


def check_from_summary(summary: dict, cls: str, declared: str) -> dict:
    row = next((r for r in summary.get("classes", []) if r["class"] == cls), None)
    if row is None:
        return {"status": UNCHECKED, "reason": f"no image of {cls} with a box"}
    outside = row["outside_box"]["mean"]
    object_share = None if outside is None else round(1.0 - outside, 4)
    cue_shares = {q: v["mean"] for q, v in row["on_cue"].items() if v["n"]}
    return declaration_check(declared, object_share, cue_shares)


def read_from_maps(oracle, stimuli, target: str, cues) -> str:
    """The cue whose regions hold more mass than the object's box (mean over the images that show
    the cue), by `relies_on_cue`; else the object."""
    object_share = sum(oracle.share_in_boxes(s, target) for s in stimuli) / len(stimuli)
    best, best_share = OBJECT, None
    for cue in cues:
        shown = [s for s in stimuli if s.image.boxes_for(cue)]
        if not shown:
            continue
        share = sum(oracle.share_in_boxes(s, cue) for s in shown) / len(shown)
        if relies_on_cue(share, object_share) and (best_share is None or share > best_share):
            best, best_share = cue, share
    return best


def guess_from_predictions(oracle, stimuli, target: str, cues) -> str:
    """Without maps: a cue whose presence tells the prediction apart (the class recognised on the
    images that show the cue at a rate at least 0.5 above those that do not), else the object when
    the network recognises the class on most images, else "cannot tell"."""
    recognised = {s.pk: target in oracle.prediction(s)[: max(1, len(s.image.labels))] for s in stimuli}
    for cue in cues:
        with_cue = [recognised[s.pk] for s in stimuli if s.image.boxes_for(cue)]
        without = [recognised[s.pk] for s in stimuli if not s.image.boxes_for(cue)]
        if with_cue and without and sum(with_cue) / len(with_cue) - sum(without) / len(without) >= 0.5:
            return cue
    return OBJECT if sum(recognised.values()) * 2 >= len(stimuli) else CANNOT_TELL


def instructed_answer(oracle, instruction: str, choices, stimuli) -> dict | None:
    """The option whose label the instruction quotes."""
    quoted = re.search(r"\u201c(.+?)\u201d", instruction)
    if not quoted or not stimuli or stimuli[0] is None:
        return None
    cues = BiasDetection().settings_of(oracle.study)["cues"]
    for value in choices:
        if BiasDetection.option_label(value, stimuli[0].target_class, cues) == quoted.group(1):
            return {"reliance": value, "confidence": "5"}
    return None


register_preset(
    Preset(
        "bias-detection-adebayo-2022",
        "Bias detection (Adebayo et al. 2022)",
        "Adebayo et al., Post hoc explanations may be ineffective for detecting unknown spurious correlation, "
        "ICLR 2022 (and Debugging tests for model explanations, NeurIPS 2020); Sixt et al., Do users benefit from "
        "interpretable vision?, ICLR 2022: a network with a planted spurious cue beside a normal one, its "
        "explanations against a no-explanation arm that sees the predictions only",
        BiasDetection.name,
        kind_settings={"images_per_set": 6, "sets_per_class": 2},
        study={"methods": ["gradcam"], "control_arm": True, "design": "between"},
        note="Choose the networks and the image set; declare its candidate cues (mark their regions with "
        "cue:<name> boxes to have them checked) and what each network relies on per class.",
    )
)
