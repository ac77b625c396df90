"""The report adds design-aware statistics beside the pooled ones, computed from the same rows."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from studies.results import analysis, export
from studies.results.mixed_effects import fit_accuracy_model
from tests.results import factories as F
from tests.results.test_report import db_report


@pytest.mark.django_db
def test_within_subjects_report_has_the_model_the_bootstrap_and_the_participant_level_test():
    built = F.class_discrimination_within()
    study = built.study
    result = db_report(study)
    df = export.responses_frame(study)
    main = df[(df["trial_kind"] == "main") & df["correct"].notna()]
    model = fit_accuracy_model(main, study.methods)
    assert model["participants"] == 12 and model["images"] == 12
    for i, method in enumerate(study.methods):
        m = result["methods"][method]
        rows = main[main["method"] == method]
        low, high = analysis.cluster_bootstrap_mean(
            rows["correct"].astype(float), rows["participant"], seed=study.seed + i
        )
        assert (m["bootstrap_ci_low"], m["bootstrap_ci_high"]) == (low, high)
        assert low <= m["accuracy"] <= high
        per_person = rows.groupby("participant")["correct"].mean().astype(float)
        ref = stats.ttest_1samp(per_person - 0.5, 0.0)  # two options each: chance 1/2
        assert m["p_vs_chance_participants"] == pytest.approx(ref.pvalue)
        assert m["vs_chance_participants"]["participants"] == 12
        assert m["vs_chance_participants"]["mean_difference"] == pytest.approx(per_person.mean() - 0.5)
        me = m["mixed_effects"]
        assert me["accuracy"] == pytest.approx(model["methods"][method]["accuracy"])
        assert me["ci_low"] < me["accuracy"] < me["ci_high"]
        assert me["sd_participant"] == pytest.approx(model["sd_participant"])
        assert me["sd_image"] == pytest.approx(model["sd_image"])
    text = analysis.text_report(result)
    assert "Respecting the design" in text and "random-effect SD" in text


@pytest.mark.django_db
def test_the_participant_level_test_is_less_sure_than_the_pooled_binomial_when_people_differ():
    # Pooling 63 answers as independent overstates the evidence; one number per participant does not.
    built = F.class_discrimination_between()
    result = db_report(built.study)
    compared = 0
    for m in result["methods"].values():
        if m["p_vs_chance"] is not None and m["p_vs_chance"] < 0.5:
            assert m["p_vs_chance_participants"] > m["p_vs_chance"]
            compared += 1
    assert compared


def test_an_empty_export_reports_why_there_is_no_model():
    empty = pd.DataFrame(columns=export.RESPONSE_COLUMNS)
    result = analysis.report(empty, methods=["gradcam"], kind="class_discrimination")
    m = result["methods"]["gradcam"]
    assert m["mixed_effects"] == {"error": "no scored answers"}
    assert m["bootstrap_ci_low"] is None and m["p_vs_chance_participants"] is None
    assert "no scored answers" in analysis.text_report(result)


def test_trust_reports_are_unchanged_by_the_binary_model():
    frame = pd.DataFrame(
        {
            "participant": np.repeat(["a", "b", "c"], 4),
            "trial_kind": "main",
            "method": "gradcam",
            "rating": 1,
            "rating_toward_stronger": [1, 2, 0, 1] * 3,
            "correct": None,
            "is_pilot": False,
            "excluded": False,
            "exclusion_reason": "",
            "condition": "c0",
            "rt_ms": 900,
        }
    )
    result = analysis.report(frame, kind="trust")
    assert "mixed_effects" not in result["methods"]["gradcam"]
