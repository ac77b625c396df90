"""The shared analysis of a study with a no-explanation control arm: accuracy per arm, and each method's
utility (its accuracy minus the control arm's) with a participant-bootstrap interval and the mixed
model's test of the same difference, for between- and within-subjects designs."""

import math

import numpy as np
import pandas as pd
import pytest

from studies.design import NO_EXPLANATION
from studies.results import analysis
from studies.results.mixed_effects import fit_accuracy_model

ARMS = ["gradcam", "guided_backprop", NO_EXPLANATION]


def answers(rates: dict, *, within: bool, people_per_arm=12, trials=12, seed=0) -> pd.DataFrame:
    """Simulated answers: P(correct) = rates[arm] shifted by a participant's ability, on 24 images."""
    rng = np.random.default_rng(seed)
    rows = []
    n_people = people_per_arm * (1 if within else len(rates))
    for p in range(n_people):
        ability = rng.normal(0, 0.4)
        arms = list(rates) if within else [list(rates)[p % len(rates)]]
        for t in range(trials):
            arm = arms[t % len(arms)]
            logit = math.log(rates[arm] / (1 - rates[arm])) + ability
            rows.append(
                {
                    "participant": f"p{p}",
                    "image": f"img{rng.integers(24)}",
                    "method": arm,
                    "correct": bool(rng.random() < 1 / (1 + math.exp(-logit))),
                    "options": "a|b",
                }
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("design", ["between", "within"])
def test_a_helpful_method_has_a_positive_utility_and_a_useless_one_none(design):
    frame = answers({"gradcam": 0.85, "guided_backprop": 0.5, NO_EXPLANATION: 0.5}, within=design == "within")
    summary, comparisons = analysis.arms_accuracy_and_utility(frame, ARMS, design, seed=1, n_resamples=2000)
    assert set(summary) == set(ARMS) and "utility" not in summary[NO_EXPLANATION]
    control = summary[NO_EXPLANATION]["accuracy"]
    helpful, useless = summary["gradcam"]["utility"], summary["guided_backprop"]["utility"]
    assert helpful["difference"] == pytest.approx(summary["gradcam"]["accuracy"] - control)
    assert helpful["control"] == NO_EXPLANATION
    assert 0 < helpful["bootstrap_ci_low"] < helpful["difference"] < helpful["bootstrap_ci_high"]
    assert helpful["p"] < 0.01 and helpful["mixed_effects"]["odds_ratio"] > 1
    assert useless["bootstrap_ci_low"] < 0 < useless["bootstrap_ci_high"]
    assert useless["p"] > 0.05
    assert {(c["a"], c["b"]) for c in comparisons} == {
        ("gradcam", "guided_backprop"),
        ("gradcam", NO_EXPLANATION),
        ("guided_backprop", NO_EXPLANATION),
    }


def test_the_utility_interval_is_seeded_and_wider_for_fewer_participants():
    frame = answers({"gradcam": 0.8, NO_EXPLANATION: 0.55}, within=False)
    arms = ["gradcam", NO_EXPLANATION]
    first = analysis.bootstrap_accuracy_differences(frame, ["gradcam"], NO_EXPLANATION, seed=4, n_resamples=1000)
    again = analysis.bootstrap_accuracy_differences(frame, ["gradcam"], NO_EXPLANATION, seed=4, n_resamples=1000)
    assert first == again
    few = frame[frame["participant"].isin([f"p{i}" for i in range(8)])]
    narrow = first["gradcam"][1] - first["gradcam"][0]
    wide = analysis.bootstrap_accuracy_differences(few, ["gradcam"], NO_EXPLANATION, seed=4, n_resamples=1000)
    assert wide["gradcam"][1] - wide["gradcam"][0] > narrow
    summary, _ = analysis.arms_accuracy_and_utility(frame, arms, "between", seed=4, n_resamples=1000)
    assert (summary["gradcam"]["utility"]["bootstrap_ci_low"], summary["gradcam"]["utility"]["bootstrap_ci_high"]) == (
        pytest.approx(first["gradcam"][0]),
        pytest.approx(first["gradcam"][1]),
    )


def test_between_subjects_the_bootstrap_keeps_each_arms_number_of_participants():
    # Every control participant is always right and every method participant always wrong: whatever
    # participants a resample draws, each arm keeps its own, so the difference never varies.
    frame = pd.DataFrame(
        [
            {"participant": f"p{p}", "image": f"i{t}", "method": arm, "correct": arm == NO_EXPLANATION}
            for p, arm in enumerate(["gradcam", NO_EXPLANATION] * 5)
            for t in range(4)
        ]
    )
    low, high = analysis.bootstrap_accuracy_differences(frame, ["gradcam"], NO_EXPLANATION, n_resamples=500)["gradcam"]
    assert low == high == -1.0


def test_the_mixed_model_contrast_is_the_difference_of_the_arms_coefficients():
    frame = answers({"gradcam": 0.8, NO_EXPLANATION: 0.5}, within=True)
    fit = fit_accuracy_model(frame, ["gradcam", NO_EXPLANATION], reference=NO_EXPLANATION)
    contrast = fit["methods"]["gradcam"]["contrast"]
    assert contrast["logit_difference"] == pytest.approx(
        fit["methods"]["gradcam"]["logit"] - fit["methods"][NO_EXPLANATION]["logit"]
    )
    assert "contrast" not in fit["methods"][NO_EXPLANATION]
    assert contrast["or_ci_low"] < contrast["odds_ratio"] < contrast["or_ci_high"]
    assert "contrast" not in fit_accuracy_model(frame, ["gradcam", NO_EXPLANATION])["methods"]["gradcam"]


def test_without_a_control_arm_there_is_no_utility_and_the_report_says_so():
    frame = answers({"gradcam": 0.8, "guided_backprop": 0.5}, within=False)
    summary, _ = analysis.arms_accuracy_and_utility(frame, ["gradcam", "guided_backprop"], "between", n_resamples=200)
    assert not any("utility" in m for m in summary.values())
    assert analysis.utility_text(summary) == ""
    with_control = answers({"gradcam": 0.8, NO_EXPLANATION: 0.5}, within=False)
    summary, _ = analysis.arms_accuracy_and_utility(
        with_control, ["gradcam", NO_EXPLANATION], "between", n_resamples=200
    )
    text = analysis.utility_text(analysis._clean(summary))
    assert "Utility: accuracy minus the no-explanation arm's (none)" in text and "gradcam" in text
