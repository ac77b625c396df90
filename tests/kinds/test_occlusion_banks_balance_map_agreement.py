"""The occlusion 2-AFC bank as a pure function of the measured ground truth: every pair differs by
the minimum score difference; per method the map agrees with the truth on half of the trials;
the right answer is A on half of them; the control arm gets pairs without a map; catch trials put
the object's box against an empty corner; the bank is seeded; too few pairs are refused with counts."""

from types import SimpleNamespace

import pytest

from studies import design
from studies.kinds import KindContext, kind_of
from studies.stimuli.configuration import StudyError

METHODS = ["gradcam", "guided_backprop"]


def measured_world(n_images: int, seed: int = 0, spread: float = 0.05):
    """Images whose 16 patches lower the score by index; maps favour even patches (gradcam) or the
    first half (guided_backprop), so both agreeing and disagreeing pairs exist."""
    import random

    rng = random.Random(seed)
    images = [SimpleNamespace(id=10 + i, labels=["cat"]) for i in range(n_images)]
    context = KindContext(images, {im.id: {"cat"} for im in images})
    patches = [[c / 4, r / 4, (c + 1) / 4, (r + 1) / 4] for r in range(4) for c in range(4)]
    for im in images:
        occluded = [round(0.9 - spread * k + rng.uniform(-0.01, 0.01), 6) for k in range(16)]
        context.measured[im.id] = {
            "class": "cat",
            "score": 0.9,
            "patches": patches,
            "occluded": occluded,
            "mass": {
                "gradcam": [2.0 if k % 2 == 0 else 1.0 for k in range(16)],
                "guided_backprop": [rng.random() for _ in range(16)],
            },
            "catch": {"object": [0.3, 0.3, 0.6, 0.6], "corner": patches[0], "object_score": 0.05, "corner_score": 0.9},
            "provenance": {"baseline": "mean", "patch_size": 0.25, "score": "softmax"},
        }
    return context


def study(**fields):
    values = {
        "kind": "occlusion_2afc",
        "model": SimpleNamespace(id=1),
        "methods": list(METHODS),
        "seed": 7,
        "max_images": None,
        "attention_checks_per_participant": 2,
        "trials_per_participant": 10,
        "accept_fewer_trials": False,
        "kind_settings": {"min_score_difference": 0.1},
    }
    values.update(fields)
    values.setdefault("arms", list(values["methods"]))
    return SimpleNamespace(**values)


def main_entries(bank, method=None):
    return [e for e in bank if e.kind == "main" and (method is None or e.method == method)]


def test_every_pair_differs_by_the_minimum_and_the_answer_is_the_stronger_occlusion():
    s, context = study(), measured_world(40)
    for entry in main_entries(kind_of(s).build_bank(s, context)):
        p = entry.payload
        scores = p["occluded_scores"]
        assert abs(scores["A"] - scores["B"]) >= 0.1 - 1e-9
        other = "B" if p["answer"] == "A" else "A"
        assert scores[p["answer"]] < scores[other]  # hiding the answer lowers the confidence more
        assert p["regions"]["A"] != p["regions"]["B"]
        assert p["ground_truth"]["baseline"] == "mean"


@pytest.mark.parametrize("method", METHODS)
def test_the_map_agrees_with_the_truth_on_half_of_each_methods_trials(method):
    s, context = study(), measured_world(40)
    entries = main_entries(kind_of(s).build_bank(s, context), method)
    agrees = [e.payload["map_agrees"] for e in entries]
    assert len(entries) == 40 and abs(sum(agrees) - len(agrees) / 2) <= 1
    for e in entries:  # the recorded agreement is the map's mass in A vs B
        mass, answer = e.payload["map_mass"], e.payload["answer"]
        other = "B" if answer == "A" else "A"
        assert e.payload["map_agrees"] == (mass[answer] > mass[other])
    answers = [e.payload["answer"] for e in entries]
    assert abs(answers.count("A") - answers.count("B")) <= 1


def test_images_that_offer_one_sort_of_pair_take_it_and_the_others_even_the_balance():
    s, context = study(), measured_world(20)
    for image_id in list(context.measured)[:6]:  # the map agrees on every pair of these six
        facts = context.measured[image_id]
        facts["mass"]["gradcam"] = [1.0 + k for k in range(16)]  # mass grows as the occluded score falls
    entries = main_entries(kind_of(s).build_bank(s, context), "gradcam")
    assert all(e.payload["map_agrees"] for e in entries if e.image_id in list(context.measured)[:6])
    assert sum(e.payload["map_agrees"] for e in entries) == 10
    for image_id in list(context.measured)[:14]:
        context.measured[image_id]["mass"]["gradcam"] = [1.0 + k for k in range(16)]
    entries = main_entries(kind_of(s).build_bank(s, context), "gradcam")
    assert sum(e.payload["map_agrees"] for e in entries) == 14  # more than half: the images allow no better


def test_without_balancing_the_map_agrees_as_often_as_it_does():
    s = study(kind_settings={"min_score_difference": 0.1, "balance_map_agreement": False})
    context = measured_world(30)
    for facts in context.measured.values():
        facts["mass"]["gradcam"] = [1.0 + k for k in range(16)]  # the map always agrees
    entries = main_entries(kind_of(s).build_bank(s, context), "gradcam")
    assert all(e.payload["map_agrees"] for e in entries) and len(entries) == 30


def test_the_control_arm_gets_pairs_without_a_map():
    s = study(arms=[*METHODS, design.NO_EXPLANATION])
    bank = kind_of(s).build_bank(s, measured_world(20))
    control = main_entries(bank, "none")
    assert len(control) == 20
    assert all(e.payload["map_agrees"] is None and e.payload["map_mass"] is None for e in control)
    checks = [e for e in bank if e.kind == "attention"]
    assert {e.method for e in checks} == {design.NO_EXPLANATION}  # the photograph, no map to follow


def test_catch_trials_hide_the_object_against_an_empty_corner():
    s = study()
    checks = [e for e in kind_of(s).build_bank(s, measured_world(20)) if e.kind == "attention"]
    assert len(checks) == 2 * design.ATTENTION_POOL_FACTOR
    for e in checks:
        p = e.payload
        assert p["regions"][p["answer"]] == [0.3, 0.3, 0.6, 0.6]
        assert p["score_difference"] >= 0.1
    assert {e.payload["answer"] for e in checks} == {"A", "B"}


def test_the_bank_is_seeded():
    s, other = study(), study(seed=8)
    assert kind_of(s).build_bank(s, measured_world(30)) == kind_of(s).build_bank(s, measured_world(30))
    assert kind_of(s).build_bank(s, measured_world(30)) != kind_of(other).build_bank(other, measured_world(30))


def test_too_few_pairs_are_refused_with_the_counts():
    s = study(trials_per_participant=10)
    context = measured_world(12, spread=0.0)  # every occlusion gives about the same confidence
    with pytest.raises(StudyError, match=r"only 0 of 12 images .* at least 0\.1 .* participants need 10"):
        kind_of(s).build_bank(s, context)
    context = measured_world(6)
    with pytest.raises(StudyError, match=r"only 6 of 6 images"):
        kind_of(s).build_bank(s, context)
    s.accept_fewer_trials = True  # the researcher accepts fewer trials: the bank is built
    assert len(main_entries(kind_of(s).build_bank(s, context))) == 12
    s.kind_settings = {"min_score_difference": 0.9}
    with pytest.raises(StudyError, match=r"only 0 of 6 images"):
        kind_of(s).build_bank(s, context)
