"""The forward-simulation bots and analysis. The oracle of an explanation arm learns, in the learning
block, which object or cue of each image the map points at as evidence for the decision, and predicts
test images from that evidence; a control-arm oracle sees no map and goes by the decisions' base rates.
The analysis scores test trials only: accuracy per arm, utility over the control arm, by round."""

from collections import Counter
from types import SimpleNamespace

import pandas as pd

from studies.design import NO_EXPLANATION
from studies.kinds import kind_of

KIND = kind_of("forward_simulation")
OPTIONS = ["circle", "square", "triangle", "star", "cross", "ring"]


def image(labels, cue=False):
    boxes = [{"label": label, "box": [0, 0, 10, 10]} for label in labels]
    if cue:
        boxes.append({"label": "stripes", "box": [0, 100, 128, 128], "cue": True})
    return SimpleNamespace(labels=list(labels), boxes=boxes)


def stimulus(im, decision, method="gradcam", pointed=None):
    return SimpleNamespace(image=im, target_class=decision, method=method, pointed=pointed)


class FakeOracle:
    """The oracle's map reading: the mass dense on the feature the stimulus says, thin elsewhere."""

    def __init__(self):
        self.memory = {}

    def lift_in_boxes(self, stim, feature):
        return 3.0 if feature == stim.pointed else 0.8


def play(oracle, learning, tests):
    for stim in learning:
        assert KIND.oracle_answer(oracle, [stim], {"seen": ["ok"]}, "") == {"seen": "ok"}
    return [KIND.oracle_answer(oracle, [stim], {"predicted": OPTIONS}, "")["predicted"] for stim in tests]


LEARNING = [
    ("gradcam", image(["square", "circle"], cue=True), "star", "stripes"),
    ("gradcam", image(["cross", "ring"], cue=True), "star", "stripes"),
    ("gradcam", image(["circle", "cross"]), "circle", "circle"),
    ("gradcam", image(["triangle", "ring"]), "triangle", "triangle"),
]
TESTS = [image(["square", "ring"], cue=True), image(["circle", "square"]), image(["ring", "cross"])]


def test_an_explanation_arm_oracle_learns_what_the_maps_point_at():
    learning = [stimulus(im, d, m, p) for m, im, d, p in LEARNING]
    tests = [stimulus(im, "?", NO_EXPLANATION) for im in TESTS]
    # cue -> star; circle -> circle; nothing learned about ring and cross: the most frequent decision
    assert play(FakeOracle(), learning, tests) == ["star", "circle", "star"]


def test_a_control_arm_oracle_goes_by_the_decisions_base_rates():
    oracle = FakeOracle()
    learning = [stimulus(im, d, NO_EXPLANATION) for _, im, d, _ in LEARNING]
    tests = [stimulus(im, "?", NO_EXPLANATION) for im in TESTS]
    assert play(oracle, learning, tests) == ["star", "star", "star"]
    assert oracle.memory["decisions"] == Counter({"star": 2, "circle": 1, "triangle": 1})
    assert "evidence" not in oracle.memory


def test_the_oracle_follows_an_instructed_answer_and_has_no_opinion_before_learning():
    oracle = FakeOracle()
    photo = stimulus(image(["circle", "ring"]), "ring", NO_EXPLANATION)
    assert KIND.oracle_answer(oracle, [photo], {"predicted": OPTIONS}, "please answer \u201ccross\u201d.") == {
        "predicted": "cross"
    }
    assert KIND.oracle_answer(oracle, [photo], {"predicted": OPTIONS}, "") is None  # nothing learned: random


def test_the_analysis_scores_test_trials_only_and_reports_utility_by_round():
    rows = []
    for p in range(12):
        arm = "gradcam" if p % 2 else NO_EXPLANATION
        for r in (1, 2):
            for t in range(4):
                rows.append(
                    {
                        "participant": f"p{p}",
                        "image": f"i{r}{t}",
                        "method": arm,
                        "block": "learning",
                        "round": r,
                        "correct": None,
                        "options": "",
                        "stratum": "cue",
                    }
                )
                right = t < (3 if arm == "gradcam" and r == 2 else 2)
                rows.append({"participant": f"p{p}", "image": f"j{r}{t}{p}", "method": arm, "block": "test",
                             "round": r, "correct": right, "options": "|".join(OPTIONS), "stratum": "cue" if t % 2 else "no_cue"})  # fmt: skip
    summary, comparisons = KIND.analyze(pd.DataFrame(rows), ["gradcam", NO_EXPLANATION], "between", 3, 500)
    assert summary[NO_EXPLANATION]["n"] == summary["gradcam"]["n"] == 6 * 2 * 4  # test trials only
    assert summary["gradcam"]["by_round"] == {"1": 0.5, "2": 0.75}
    assert summary[NO_EXPLANATION]["by_round"] == {"1": 0.5, "2": 0.5}
    assert summary["gradcam"]["utility"]["difference"] == 0.625 - 0.5
    assert set(summary["gradcam"]["by_stratum"]) == {"cue", "no_cue"}
    assert summary["gradcam"]["chance"] == 1 / len(OPTIONS)
    assert [(c["a"], c["b"]) for c in comparisons] == [("gradcam", NO_EXPLANATION)]


def test_a_map_that_points_at_nothing_in_particular_teaches_nothing():
    learning = [stimulus(im, d, "random", pointed=None) for _, im, d, _ in LEARNING]
    tests = [stimulus(im, "?", NO_EXPLANATION) for im in TESTS]
    oracle = FakeOracle()
    assert play(oracle, learning, tests) == ["star", "star", "star"]  # as without any map
    assert "evidence" not in oracle.memory


def test_the_results_page_draws_the_learning_curve_per_arm():
    from studies.results import plots

    assert "accuracy_by_round" in KIND.plot_names()
    result = {
        "kind": "forward_simulation",
        "methods": {"gradcam": {"by_round": {"1": 0.5, "2": 0.75}}, NO_EXPLANATION: {"by_round": {"1": 0.5, "2": 0.5}}},
    }
    assert plots.render("accuracy_by_round", result).startswith(b"\x89PNG")
    assert b"Test accuracy per round" in plots.render("accuracy_by_round", result, fmt="svg")
