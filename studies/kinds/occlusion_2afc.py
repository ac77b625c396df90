"""2-AFC counterfactual simulation (Zimmermann et al. 2021; Borowski et al. 2021, the jsPsych
2-AFC confidence plugin of brendel-group/causal-understanding-via-visualizations), adapted to
occlusion: shown an image, the class the network predicts and its explanation (none in the control
arm), with two regions A and B marked on it, can people tell which region's occlusion lowers the
network's confidence in that class more?

The ground truth is the network's own: when generation plans the bank, the GPU worker measures the
softmax score of the predicted class with each patch of a grid occluded (by the image's mean colour
or by a blurred copy, a setting), and each method's map mass in every patch (`measure`). A pair of
patches qualifies when the two occluded scores differ by at least the minimum difference (a
setting), so that the right answer is well defined. Per method, pairs are drawn so that the map
agrees with the truth (more mass in the region whose occlusion lowers the score more) on half of
the trials and disagrees on the other half, as near as the images allow; which region is the right
answer is A on half of them. Choice and confidence come in one click: six buttons from "A, sure" to
"B, sure", as in the published plugin. Catch trials hide the whole object (its box) against an
empty corner.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from .. import design
from ..i18n import class_name
from . import register
from .base import KindContext, Option, PanelSpec, Question, Scored, Setting, TaskKind, translated
from .hive_common import labelled_images
from .presets import Preset, register_preset

QUESTION = gettext_noop("Hiding which region lowers the network's confidence in “{cls}” more?")
# The six buttons of the published plugin, left to right: A with falling confidence, then B rising.
CHOICES = [
    ("A3", gettext_noop("A, sure")),
    ("A2", gettext_noop("A, fairly sure")),
    ("A1", gettext_noop("A, guessing")),
    ("B1", gettext_noop("B, guessing")),
    ("B2", gettext_noop("B, fairly sure")),
    ("B3", gettext_noop("B, sure")),
]
REGIONS = ("A", "B")
SCORE = "softmax"  # the network's confidence: the class's softmax probability
BLUR_SIGMA_FRACTION = 0.04  # the blur's Gaussian sigma as a share of the input's shorter side

PATCH_SIZE = Setting(
    "patch_size",
    "Patch side (share of the image side)",
    float,
    0.25,
    "The side of the square patches that are occluded, as a share of the image's shorter side; the image is "
    "cut into a grid of such patches and a trial compares two of them.",
    minimum=0.1,
    maximum=0.5,
)
MIN_DIFFERENCE = Setting(
    "min_score_difference",
    "Minimum difference in confidence",
    float,
    0.1,
    "A pair of patches is used only when the network's confidence (softmax probability of the class) with one "
    "occluded differs from that with the other by at least this much, so that the right answer is well defined.",
    minimum=0.01,
    maximum=1.0,
)
BALANCE = Setting(
    "balance_map_agreement",
    "Balance pairs the map agrees and disagrees on",
    bool,
    True,
    "On: per method, half of the pairs are ones where the map puts more mass in the right region, half where it "
    "does not, so that following the map scores 50% and only telling when to trust it helps. Off: pairs are drawn "
    "regardless of the map, and following it scores the map's own agreement rate.",
)
BASELINE = Setting(
    "occlusion_baseline",
    "What fills an occluded patch",
    str,
    "mean",
    "The image's mean colour (per channel, so no new colour appears), or a blurred copy of the image (shapes go, "
    "colours stay). Recorded with every trial's ground truth.",
    choices=(("mean", "the image's mean colour"), ("blur", "a blurred copy of the image")),
)


def grid_patches(height: int, width: int, patch_size: float) -> list[tuple[int, int, int, int]]:
    """Non-overlapping square patches (x0, y0, x1, y1) in input pixels, the grid centred on the input."""
    side = max(1, int(round(patch_size * min(height, width))))
    cols, rows = max(1, width // side), max(1, height // side)
    ox, oy = (width - cols * side) // 2, (height - rows * side) // 2
    return [
        (ox + c * side, oy + r * side, ox + (c + 1) * side, oy + (r + 1) * side)
        for r in range(rows)
        for c in range(cols)
    ]


def as_fraction(box, height: int, width: int) -> list[float]:
    x0, y0, x1, y1 = box
    return [round(x0 / width, 4), round(y0 / height, 4), round(x1 / width, 4), round(y1 / height, 4)]


def on_grid(box: Sequence[float], shape) -> tuple[int, int, int, int]:
    """A box given as fractions, as pixel ranges of an array of `shape` (H, W), never empty."""
    h, w = shape[-2], shape[-1]
    x0, y0 = min(int(round(box[0] * w)), w - 1), min(int(round(box[1] * h)), h - 1)
    return x0, y0, max(int(round(box[2] * w)), x0 + 1), max(int(round(box[3] * h)), y0 + 1)


def region_share(mass, box: Sequence[float]) -> float:
    """The share of a map's mass (H, W) inside a box given as fractions."""
    total = float(mass.sum())
    if total <= 0:
        return 0.0
    x0, y0, x1, y1 = on_grid(box, mass.shape)
    return float(mass[y0:y1, x0:x1].sum()) / total


def overlaps(a: Sequence[float], b: Sequence[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def parse_box(text: str) -> list[float] | None:
    try:
        box = [float(v) for v in str(text).split(",")]
    except ValueError:
        return None
    return box if len(box) == 4 else None


@register
class Occlusion2AFC(TaskKind):
    name = "occlusion_2afc"
    label = "2-AFC counterfactual simulation (occlusion)"
    description = "Hiding which of two regions lowers the network's confidence more? (Zimmermann et al. 2021)"
    model_fields = {"model": "the model to explain"}
    settings = (PATCH_SIZE, MIN_DIFFERENCE, BASELINE, BALANCE)
    needs_predictions = True
    supports_control_arm = True
    signature_column = "correct_region"
    export_columns = {
        "correct_region": str,
        "region_a": list,
        "region_b": list,
        "score_difference": float,
        "map_agrees": bool,
    }

    # --- configuration and images --------------------------------------------------------------
    def eligibility(self, study):
        if study.image_set_id is None or study.model_id is None:
            return None
        return labelled_images(study.image_set, study.model, study.min_visible_box_fraction)

    def eligibility_text(self, study, eligible):
        survived = (
            ""
            if study.surviving_image_count is None
            else f" At the last generation, {study.surviving_image_count} had a pair of patches that differ enough."
        )
        return (
            f"{eligible} images have a label that the model knows; those with two patches whose occlusion changes "
            f"the network's confidence by at least the minimum difference are kept when stimuli are generated.{survived}"
        )

    def no_image_error(self):
        return "no image of this set has a label that the model knows"

    def shortfall_reason(self):
        return " have two patches whose occlusion differs by the minimum difference"

    # --- the ground truth, measured on the worker ----------------------------------------------
    def measure(self, study, context, get_bundle) -> list[str]:
        """Per eligible image: the predicted class's score, intact and with each grid patch occluded;
        each map method's mass per patch; and a catch pair (the object's box, an empty corner)."""
        import torch

        from explain_engine import METHODS, Explainer
        from explain_engine.metrics import map_mass, region_scores

        from ..stimuli.content_keys import engine_versions
        from ..stimuli.geometry import model_geometry
        from ..stimuli.media_cache import photograph_rgb

        model, settings = study.model, self.settings_of(study)
        bundle = get_bundle(model)
        device = next(bundle.module.parameters()).device
        explainer = Explainer(bundle.module, model.target_layer or bundle.target_layer)
        methods = tuple(m for m in study.methods if m in METHODS)
        geometry = model_geometry(model)
        baseline = settings["occlusion_baseline"]
        for image in sorted(context.eligible, key=lambda im: im.id):
            top = context.predictions.get((model.id, image.id))
            if not top or top[0] not in model.categories:
                continue
            target = top[0]
            index = model.categories.index(target)
            x = bundle.preprocess(photograph_rgb(image))[None].to(device)
            height, width = x.shape[-2:]
            sigma = round(BLUR_SIGMA_FRACTION * min(height, width), 3)
            pixels = grid_patches(height, width, settings["patch_size"])
            patches = [as_fraction(p, height, width) for p in pixels]
            catch = self._catch_regions(image, target, geometry, height, width, patches)
            regions = pixels + [on_grid(box, (height, width)) for box in (catch or [])]
            score, occluded = region_scores(bundle.module, x, index, regions, baseline, sigma, SCORE)
            mass = {}
            if methods:
                out = explainer.explain(x, torch.tensor([[index]], device=device), methods=methods)
                for method in methods:
                    m = map_mass(out[method][0, 0].detach().cpu().numpy())
                    mass[method] = [round(region_share(m, box), 6) for box in patches]
            context.measured[image.id] = {
                "class": target,
                "score": round(score, 6),
                "patches": patches,
                "occluded": [round(s, 6) for s in occluded[: len(patches)]],
                "mass": mass,
                "catch": None
                if catch is None
                else {
                    "object": catch[0],
                    "corner": catch[1],
                    "object_score": round(occluded[len(patches)], 6),
                    "corner_score": round(occluded[len(patches) + 1], 6),
                },
                "provenance": {
                    "model": model.name,
                    "weights_sha256": model.weights_sha256,
                    "engine_version": engine_versions()[0],
                    "score": SCORE,
                    "baseline": baseline,
                    "blur_sigma_px": sigma if baseline == "blur" else None,
                    "patch_size": settings["patch_size"],
                    "input_size": [int(height), int(width)],
                },
            }
        return []

    @staticmethod
    def _catch_regions(image, target, geometry, height, width, patches):
        """(the largest box of the class, a corner patch touching no object), as fractions; None when
        the image has no box of the class in view or no empty corner."""
        size = (image.width, image.height)
        shown = geometry.boxes_on_grid(image.boxes_for(target), size, (height, width))
        if not shown:
            return None
        biggest = max(shown, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
        every_box = [b["box"] for b in image.boxes]
        objects = [as_fraction(b, height, width) for b in geometry.boxes_on_grid(every_box, size, (height, width))]
        xs, ys = {p[0] for p in patches}, {p[1] for p in patches}
        corners = [p for p in patches if p[0] in (min(xs), max(xs)) and p[1] in (min(ys), max(ys))]
        for corner in corners:
            if not any(overlaps(corner, box) for box in objects):
                return as_fraction(biggest, height, width), corner
        return None

    # --- the bank ------------------------------------------------------------------------------
    def qualifying_pairs(self, study, context) -> dict[int, list[tuple[int, int]]]:
        """Image id -> the pairs of patch indices whose occluded scores differ by the minimum or more."""
        least = self.settings_of(study)["min_score_difference"]
        pairs = {}
        for image_id, facts in sorted(context.measured.items()):
            occluded = facts["occluded"]
            found = [
                (i, j)
                for i in range(len(occluded))
                for j in range(i + 1, len(occluded))
                if abs(occluded[i] - occluded[j]) >= least - 1e-9
            ]
            if found:
                pairs[image_id] = found
        return pairs

    def build_bank(self, study, context: KindContext):
        from ..stimuli.configuration import StudyError

        pairs = self.qualifying_pairs(study, context)
        least = self.settings_of(study)["min_score_difference"]
        needed = study.trials_per_participant
        if not pairs or (len(pairs) < needed and not study.accept_fewer_trials):
            best = max(
                (max(f["occluded"]) - min(f["occluded"]) for f in context.measured.values() if f["occluded"]),
                default=0.0,
            )
            raise StudyError(
                f"only {len(pairs)} of {len(context.measured)} images have two patches whose occlusion changes the "
                f"network's confidence by at least {least:g} (the minimum score difference; the largest difference "
                f"found is {best:.3f}), and participants need {needed}: lower the minimum difference, change the "
                "patch size, add images, or accept fewer trials"
            )
        chosen = design.choose_images([design.ImageInfo(i, ()) for i in pairs], study.max_images, study.seed)
        arms = list(study.arms)
        picked: dict[tuple[int, str], dict] = {}
        for arm in arms:
            rng = random.Random(design.derive_seed(study.seed, "occlusion-pairs", arm))
            order = [im.id for im in chosen]
            rng.shuffle(order)
            wanted = self._agreement_plan(study, context, pairs, order, arm)
            for n, image_id in enumerate(order):
                facts = context.measured[image_id]
                mass = facts["mass"].get(arm)
                candidates = pairs[image_id]
                if wanted[image_id] is not None:
                    candidates = [p for p in candidates if self._map_agrees(facts, mass, p) == wanted[image_id]]
                pair = rng.choice(candidates)
                picked[(image_id, arm)] = self._main_payload(facts, mass, pair, answer=REGIONS[n % 2])
        bank: list[design.BankEntry] = []
        for im in chosen:
            for arm in arms:
                target = context.measured[im.id]["class"]
                bank.append(design.BankEntry(len(bank), "main", im.id, arm, target, (), picked[(im.id, arm)]))
        catchable = [(im, None) for im in chosen if self._catch_holds(context.measured[im.id], least)]
        pool = design.attention_pool(catchable, study.attention_checks_per_participant, study.seed)
        # Catch trials show the photograph where the study has a control arm (no map to follow), else a map.
        catch_arm = design.NO_EXPLANATION if design.NO_EXPLANATION in arms else study.methods[0]
        for n, (im, _unused) in enumerate(pool):
            facts = context.measured[im.id]
            bank.append(
                design.BankEntry(
                    len(bank),
                    "attention",
                    im.id,
                    catch_arm,
                    facts["class"],
                    (),
                    self._catch_payload(facts, REGIONS[n % 2]),
                )
            )
        return bank

    def _agreement_plan(self, study, context, pairs, order, arm) -> dict[int, bool | None]:
        """Image id -> whether its pair is to be one the map agrees on: as near half of them as the
        images allow. Images that offer only one sort take it; those that offer both fill the other
        side (the first ones in the drawn `order` go where agreement is short). None for every image
        without a map (the control arm) or when the study does not balance: any pair will do."""
        offers = {}
        for image_id in order:
            facts = context.measured[image_id]
            mass = facts["mass"].get(arm)
            if mass is None:
                return {i: None for i in order}
            offers[image_id] = {self._map_agrees(facts, mass, p) for p in pairs[image_id]}
        if not self.settings_of(study)["balance_map_agreement"]:
            return {i: None for i in order}
        plan = {i: next(iter(o)) for i, o in offers.items() if len(o) == 1}
        both = [i for i in order if len(offers[i]) == 2]
        short = max(0, min(len(both), len(order) // 2 - sum(plan.values())))
        plan.update({i: n < short for n, i in enumerate(both)})
        return plan

    @staticmethod
    def _map_agrees(facts, mass, pair) -> bool:
        """The map puts more mass in the patch whose occlusion lowers the score more."""
        i, j = pair
        stronger, weaker = (i, j) if facts["occluded"][i] < facts["occluded"][j] else (j, i)
        return mass[stronger] > mass[weaker]

    def _main_payload(self, facts, mass, pair, answer: str) -> dict:
        i, j = pair
        stronger, weaker = (i, j) if facts["occluded"][i] < facts["occluded"][j] else (j, i)
        where = {answer: stronger, REGIONS[1 - REGIONS.index(answer)]: weaker}
        return {
            "regions": {r: facts["patches"][where[r]] for r in REGIONS},
            "answer": answer,
            "class_score": facts["score"],
            "occluded_scores": {r: facts["occluded"][where[r]] for r in REGIONS},
            "score_difference": round(abs(facts["occluded"][i] - facts["occluded"][j]), 6),
            "map_mass": None if mass is None else {r: mass[where[r]] for r in REGIONS},
            "map_agrees": None if mass is None else self._map_agrees(facts, mass, pair),
            "ground_truth": facts["provenance"],
        }

    @staticmethod
    def _catch_holds(facts, least: float) -> bool:
        catch = facts.get("catch")
        return bool(catch) and catch["corner_score"] - catch["object_score"] >= least - 1e-9

    @staticmethod
    def _catch_payload(facts, answer: str) -> dict:
        catch = facts["catch"]
        other = REGIONS[1 - REGIONS.index(answer)]
        return {
            "regions": {answer: catch["object"], other: catch["corner"]},
            "answer": answer,
            "class_score": facts["score"],
            "occluded_scores": {answer: catch["object_score"], other: catch["corner_score"]},
            "score_difference": round(catch["corner_score"] - catch["object_score"], 6),
            "map_mass": None,
            "map_agrees": None,
            "catch": "the object's box against an empty corner",
            "ground_truth": facts["provenance"],
        }

    def surviving_count(self, study, context, bank):
        return len(self.qualifying_pairs(study, context))

    def panels(self, study, trial):
        return [PanelSpec(study.model, trial.method, trial.target_class)]

    # --- the page ------------------------------------------------------------------------------
    def questions(self, assignment, panels):
        text = _(QUESTION).format(cls=class_name(assignment.trial.target_class))
        return [
            Question("choice", text, [Option(v, _(label), str(n + 1)) for n, (v, label) in enumerate(CHOICES)], "scale")
        ]

    def trial_context(self, study, assignment, panels):
        regions = (assignment.trial.payload or {}).get("regions") or {}
        return {
            "instruction": "",
            "shows_map": assignment.trial.method != design.NO_EXPLANATION,
            "regions": [self._drawn(r, regions[r]) for r in REGIONS if r in regions],
        }

    @staticmethod
    def _drawn(name: str, box) -> dict:
        """A region as the template draws it: an SVG rectangle over the stimulus, in thousandths of
        its width and height (SVG attributes, since the pages' CSP allows no inline style)."""
        x0, y0, x1, y1 = (round(1000 * v, 1) for v in box)
        return {
            "name": name,
            "box": ",".join(f"{v:g}" for v in box),
            "x": f"{x0:g}",
            "y": f"{y0:g}",
            "width": f"{x1 - x0:g}",
            "height": f"{y1 - y0:g}",
            "label_x": f"{x0 + 12:g}",
            "label_y": f"{y0 + 70:g}",
        }

    def instructions_context(self, study):
        return {"choices": translated(CHOICES), "question": _(QUESTION).format(cls=_("cat"))}

    # --- answers -------------------------------------------------------------------------------
    def parse_answer(self, assignment, data):
        (question,) = self.questions(assignment, ())
        value = self.pick(data, question)
        region, confidence = value[0], int(value[1])
        answer = (assignment.trial.payload or {}).get("answer")
        return Scored(
            {"region": region, "confidence": confidence},
            correct=None if answer is None else region == answer,
            confidence=confidence,
        )

    def export_values(self, study, assignment, response, panel_models, names):
        payload = assignment.trial.payload or {}
        regions = payload.get("regions") or {}
        return {
            "model": names.get(panel_models[0] if panel_models else study.model_id),
            "choice": (response.answer or {}).get("region"),
            "region_a": "|".join(f"{v:g}" for v in regions.get("A", [])) or None,
            "region_b": "|".join(f"{v:g}" for v in regions.get("B", [])) or None,
            "correct_region": payload.get("answer"),
            "score_difference": payload.get("score_difference"),
            "map_agrees": payload.get("map_agrees"),
        }

    # --- analysis ------------------------------------------------------------------------------
    def analyze(self, main, methods, design_name, seed, n_resamples):
        """Accuracy per arm and each method's utility over the control arm (the shared analysis of
        studies with arms), and per method the accuracy on the pairs its map agrees and disagrees on:
        following the map scores 100% and 0% there; telling when to trust it is what lifts both."""
        from ..results import analysis

        summary, comparisons = analysis.arms_accuracy_and_utility(
            main, methods, design_name, seed=seed, n_resamples=n_resamples
        )
        for method, entry in summary.items():
            rows = main[main["method"] == method]
            for key, flag in (("accuracy_map_agrees", True), ("accuracy_map_disagrees", False)):
                part = rows[rows["map_agrees"] == flag]["correct"].astype(float) if "map_agrees" in rows else []
                entry[key] = {"n": int(len(part)), "accuracy": float(part.mean()) if len(part) else None}
            conf = rows["confidence"].dropna()
            entry["mean_confidence"] = float(conf.astype(float).mean()) if len(conf) else None
        return summary, comparisons

    # --- simulated participants ----------------------------------------------------------------
    def oracle_answer(self, oracle, stimuli, questions, instruction):
        return None  # the regions are on the page: see oracle_answer_on_page

    def oracle_answer_on_page(self, oracle, stimuli, questions, instruction, regions: Mapping):
        """A participant who sees perfectly: where one region covers the class's object and the other
        no object at all (what anyone sees on a catch trial), that one; otherwise the region where the
        map puts more mass, surer the clearer the difference; without a map (the control arm), a guess
        from the participant's seeded stream, A or B as often as each is right."""
        boxes = {r: parse_box(regions.get(r, "")) for r in REGIONS}
        if not stimuli or stimuli[0] is None or any(b is None for b in boxes.values()):
            return None
        stimulus = stimuli[0]
        covering = self._object_region(stimulus, boxes)
        if covering:
            return {"choice": f"{covering}3"}
        if not stimulus.raw_map:  # the control arm: a guess (the right region is A on half of the trials)
            return {"choice": f"{oracle.rng.choice(REGIONS)}1"}
        mass = oracle.mass_map(stimulus)
        shares = {r: region_share(mass, boxes[r]) for r in REGIONS}
        pick = max(REGIONS, key=lambda r: shares[r])
        other = shares[REGIONS[1 - REGIONS.index(pick)]]
        ratio = shares[pick] / other if other > 0 else float("inf")
        return {"choice": f"{pick}{3 if ratio >= 2 else 2 if ratio >= 1.25 else 1}"}

    @staticmethod
    def _object_region(stimulus, boxes) -> str | None:
        from ..stimuli.geometry import boxes_on_map

        grid = (1000, 1000)
        labels = set(stimulus.image.labels)
        target = [as_fraction(b, *grid) for b in boxes_on_map(stimulus, stimulus.target_class, grid)]
        everything = [as_fraction(b, *grid) for label in labels for b in boxes_on_map(stimulus, label, grid)]
        for r in REGIONS:
            other = boxes[REGIONS[1 - REGIONS.index(r)]]
            holds = any(_covered_share(t, boxes[r]) >= 0.9 for t in target)
            if holds and not any(overlaps(other, b) for b in everything):
                return r
        return None


def _covered_share(inner: Sequence[float], outer: Sequence[float]) -> float:
    """The share of `inner`'s area that lies inside `outer`."""
    w = max(0.0, min(inner[2], outer[2]) - max(inner[0], outer[0]))
    h = max(0.0, min(inner[3], outer[3]) - max(inner[1], outer[1]))
    area = (inner[2] - inner[0]) * (inner[3] - inner[1])
    return w * h / area if area > 0 else 0.0


register_preset(
    Preset(
        "occlusion-2afc",
        "2-AFC counterfactual simulation (Zimmermann et al. 2021)",
        "Zimmermann, Borowski et al., NeurIPS 2021 / Borowski et al., ICLR 2021 (bethgelab; the 2-AFC confidence "
        "plugin of brendel-group/causal-understanding-via-visualizations): two queries, one click gives the choice "
        "and a confidence 1-3, catch trials, a no-explanation baseline. Here the queries are two occluded regions.",
        Occlusion2AFC.name,
        kind_settings={"patch_size": 0.25, "min_score_difference": 0.1, "occlusion_baseline": "mean"},
        study={
            "methods": ["gradcam"],
            "control_arm": True,
            "design": "between",
            "trials_per_participant": 18,
            "attention_checks_per_participant": 2,
            "max_failed_attention_checks": 0,
        },
        note="Choose the network and an image set with boxes of the classes it knows (for the catch trials).",
    )
)
