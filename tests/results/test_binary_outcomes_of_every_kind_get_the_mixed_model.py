"""Every task kind whose answers are right or wrong gets the design-aware statistics, chance included."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from studies.results import analysis
from studies.results.export import RESPONSE_COLUMNS
from tests.results.test_mixed_model_recovers_a_known_effect import simulate

LOGITS = {"gradcam": 0.3, "guided_backprop": -0.3}


def export_frame(kind: str) -> pd.DataFrame:
    sim = simulate(5, participants=16, images=12, trials=12, logits=LOGITS)
    df = pd.DataFrame({column: "" for column in RESPONSE_COLUMNS}, index=sim.index)
    for column in sim:
        df[column] = sim[column]
    df["trial_kind"], df["is_pilot"], df["excluded"], df["rt_ms"] = "main", False, False, 900
    df["position"] = df.groupby("participant").cumcount()
    rng = np.random.default_rng(6)
    if kind == "hive_distinction":
        df["options"] = "cat|dog|bird|car"
        df["confidence"] = rng.integers(1, 6, len(df))
        df["score"] = (rng.random(len(df)) < 0.6).astype(float)  # Q2, right or wrong
        df["prediction_correct"] = True
    else:
        df["score"] = rng.integers(1, 5, len(df)).astype(float)
        df["prediction_correct"] = rng.random(len(df)) < 0.5
    return analysis.normalize_frame(df)


def per_person_p(df: pd.DataFrame, method: str, outcome: pd.Series, chance: float) -> float:
    rows = df[df["method"] == method]
    acc = outcome[rows.index].astype(float).groupby(rows["participant"]).mean()
    return float(stats.ttest_1samp(acc - chance, 0.0).pvalue)


def test_hive_distinction_models_both_questions_against_a_quarter():
    df = export_frame("hive_distinction")
    result = analysis.report(df, kind="hive_distinction", methods=list(LOGITS), design="within")
    for method in LOGITS:
        m = result["methods"][method]
        assert m["mixed_effects"]["participants"] == 16 and "error" not in m["mixed_effects"]
        assert m["p_vs_chance_participants"] == pytest.approx(per_person_p(df, method, df["correct"], 0.25))
        q2 = m["correct_class"]
        assert q2["mixed_effects"]["ci_low"] < q2["mixed_effects"]["accuracy"] < q2["mixed_effects"]["ci_high"]
        assert q2["bootstrap_ci_low"] <= q2["accuracy"] <= q2["bootstrap_ci_high"]
        assert q2["p_vs_chance_participants"] == pytest.approx(per_person_p(df, method, df["score"] == 1, 0.25))
    assert "Respecting the design" in analysis.text_report(result)


def test_hive_agreement_models_the_binarized_answer_against_a_half():
    df = export_frame("hive_agreement")
    result = analysis.report(df, kind="hive_agreement", methods=list(LOGITS), design="within")
    for method in LOGITS:
        m = result["methods"][method]
        assert m["mixed_effects"]["images"] == 12 and "error" not in m["mixed_effects"]
        assert m["p_vs_chance_participants"] == pytest.approx(per_person_p(df, method, df["correct"], 0.5))
