"""The report on hand-made studies: the numbers expected by construction, and DB == CSV."""

import io
import json
import math

import numpy as np
import pytest
from django.core.management import call_command
from scipy import stats
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from studies.results import analysis, export
from tests.results import factories as F


def db_report(study, **kw):
    return analysis.report(
        export.responses_frame(study),
        methods=study.methods,
        rules=export.rules_for(study),
        kind=study.kind,
        design=study.design,
        seed=study.seed,
        **kw,
    )


@pytest.mark.django_db
def test_class_discrimination_between_subjects_numbers():
    built = F.class_discrimination_between()
    result = db_report(built.study)
    ex = result["exclusions"]
    assert (ex["participants"], ex["excluded"], ex["included"], ex["pilot_participants"]) == (9, 2, 7, 1)
    assert ex["by_reason"] == {"failed_attention_checks": 1, "median_rt_below_minimum": 1}
    assert set(ex["excluded_participants"]) == {str(built.participants[k].public_id) for k in ("inattentive", "fast")}
    assert ex["responses"] == built.expected["responses"] and ex["responses_analyzed"] == 63
    for method, (k, n) in built.expected["accuracy"].items():
        m = result["methods"][method]
        low, high = proportion_confint(k, n, method="wilson")
        assert (m["n"], m["correct"]) == (n, k)
        assert m["accuracy"] == pytest.approx(k / n)
        assert (m["ci_low"], m["ci_high"]) == (pytest.approx(low), pytest.approx(high))
        assert m["p_vs_chance"] == pytest.approx(stats.binomtest(k, n, 0.5).pvalue)
    gb = result["methods"]["guided_backprop"]
    assert gb["participant_accuracy_mean"] == pytest.approx(0.5)
    assert gb["participant_accuracy_sd"] == pytest.approx(np.std([0.5, 0.6, 0.4], ddof=1))
    (cmp,) = result["comparisons"]
    z, p = proportions_ztest([15, 26], [30, 33])
    assert cmp["test"] == "two_proportion_z" and cmp["p"] == pytest.approx(p) and cmp["statistic"] == pytest.approx(z)
    assert cmp["p_holm"] == pytest.approx(p)  # one comparison: Holm changes nothing
    assert cmp["cohens_h"] == pytest.approx(2 * math.asin(math.sqrt(15 / 30)) - 2 * math.asin(math.sqrt(26 / 33)))
    assert cmp["odds_ratio"] == pytest.approx((15 / 15) / (26 / 7))
    # pilots apart
    assert result["pilot"]["participants"] == 1
    assert result["pilot"]["methods"]["guided_backprop"]["accuracy"] == pytest.approx(0.9)


@pytest.mark.django_db
def test_class_discrimination_within_subjects_uses_gee_and_holm():
    import pandas as pd
    import statsmodels.formula.api as smf
    from statsmodels.genmod.cov_struct import Exchangeable
    from statsmodels.genmod.families import Binomial
    from statsmodels.stats.multitest import multipletests

    built = F.class_discrimination_within()
    result = db_report(built.study)
    assert result["design"] == "within" and len(result["comparisons"]) == 3
    df = export.responses_frame(built.study)
    main = df[df["trial_kind"] == "main"].copy()
    main["y"] = main["correct"].astype(int)
    ps = []
    for c in result["comparisons"]:
        sub = main[main["method"].isin([c["a"], c["b"]])].copy()
        sub["first"] = (sub["method"] == c["a"]).astype(int)
        ref = smf.gee(
            "y ~ first",
            groups="participant",
            data=pd.DataFrame(sub[["y", "first", "participant"]]),
            family=Binomial(),
            cov_struct=Exchangeable(),
        ).fit()
        assert c["test"] == "gee_logistic_exchangeable"
        assert c["p"] == pytest.approx(ref.pvalues["first"], rel=1e-6)
        assert c["odds_ratio"] == pytest.approx(math.exp(ref.params["first"]), rel=1e-6)
        ps.append(c["p"])
    assert [c["p_holm"] for c in result["comparisons"]] == pytest.approx(list(multipletests(ps, method="holm")[1]))


@pytest.mark.django_db
def test_trust_within_subjects_numbers():
    built = F.trust_within()
    result = db_report(built.study)
    assert result["kind"] == "trust" and result["exclusions"]["excluded"] == 1
    for method, scores in built.expected["scores"].items():
        m = result["methods"][method]
        assert m["n"] == len(scores) == 20
        assert m["mean_rating"] == pytest.approx(np.mean(scores))
        assert m["ci_low"] <= m["mean_rating"] <= m["ci_high"]
        assert m["p_vs_zero"] == pytest.approx(stats.wilcoxon(built.expected["person_means"][method]).pvalue)
        assert m["distribution"] == {str(v): scores.count(v) for v in (-2, -1, 0, 1, 2)}
    (cmp,) = result["comparisons"]
    d = np.array(built.expected["person_means"]["guided_backprop"]) - np.array(
        built.expected["person_means"]["guided_gradcam"]
    )
    assert cmp["test"] == "paired_wilcoxon" and cmp["p"] == pytest.approx(stats.wilcoxon(d).pvalue)
    # seeded: the bootstrap interval is the same every time
    assert db_report(built.study)["methods"] == result["methods"]


@pytest.mark.django_db
def test_trust_between_subjects_uses_mann_whitney():
    from studies.models import Study

    built = F.trust_within()
    Study.objects.filter(pk=built.study.pk).update(design="between")
    df = export.responses_frame(built.study)
    # a between-subjects view of the same answers: keep one method per participant
    keep = df[
        (df["trial_kind"] != "main")
        | (df["method"] == np.where(df["condition"] == "latin-0", "guided_backprop", "guided_gradcam"))
    ]
    result = analysis.report(keep, rules=export.rules_for(built.study))
    assert result["design"] == "between"
    (cmp,) = result["comparisons"]
    assert cmp["test"] == "mann_whitney_u" and cmp["p"] is not None
    gb = keep[(keep["method"] == "guided_backprop") & (keep["trial_kind"] == "main") & ~keep["excluded"]]
    ggc = keep[(keep["method"] == "guided_gradcam") & (keep["trial_kind"] == "main") & ~keep["excluded"]]
    ref = stats.mannwhitneyu(
        gb.groupby("participant")["rating_toward_stronger"].mean().astype(float),
        ggc.groupby("participant")["rating_toward_stronger"].mean().astype(float),
    )
    assert cmp["p"] == pytest.approx(ref.pvalue)


@pytest.mark.django_db
@pytest.mark.parametrize("scenario", ["class_discrimination_between", "class_discrimination_within", "trust_within"])
def test_the_database_and_the_exported_csv_give_the_same_report(scenario, tmp_path):
    built = getattr(F, scenario)()
    slug = built.study.slug
    csv_path, people_path = tmp_path / "results.csv", tmp_path / "participants.csv"
    db_json, csv_json = tmp_path / "db.json", tmp_path / "csv.json"
    call_command(
        "export_results", slug, "--out", str(csv_path), "--participants", str(people_path), stderr=io.StringIO()
    )
    call_command("analyze_study", slug, "--json", str(db_json), stdout=io.StringIO(), stderr=io.StringIO())
    call_command(
        "analyze_study",
        slug,
        "--from-csv",
        str(csv_path),
        "--participants-csv",
        str(people_path),
        "--json",
        str(csv_json),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    from_db, from_csv = json.loads(db_json.read_text()), json.loads(csv_json.read_text())
    assert from_db == from_csv
    assert set(from_db) >= {"methods", "comparisons", "exclusions"}
    keys = (
        {"n", "accuracy", "ci_low", "ci_high"}
        if built.study.kind != "trust"
        else {"n", "mean_rating", "ci_low", "ci_high", "p_vs_zero"}
    )
    for entry in from_db["methods"].values():
        assert keys <= set(entry)
    # the CSV alone, without the study's rules: exclusions come from the export's own columns
    alone = analysis.report(analysis.read_export_csv(csv_path), seed=built.study.seed)
    assert alone["exclusions"]["excluded_participants"] == from_db["exclusions"]["excluded_participants"]
    assert {k: v["n"] for k, v in alone["methods"].items()} == {k: v["n"] for k, v in from_db["methods"].items()}


@pytest.mark.django_db
def test_simulated_participants_are_included_and_counted():
    built = F.class_discrimination_between()
    import pandas as pd

    people = pd.DataFrame(list(export.participant_rows(built.study)))
    result = db_report(built.study, participants=people)
    assert result["simulated"] == {"participants": 1, "included": 1}
    assert "simulated participants: 1" in analysis.text_report(result)


def test_an_empty_export_gives_an_empty_report():
    import pandas as pd

    empty = pd.DataFrame(columns=export.RESPONSE_COLUMNS)
    result = analysis.report(empty, methods=["gradcam", "guided_backprop"], kind="class_discrimination")
    assert result["methods"]["gradcam"]["n"] == 0 and result["methods"]["gradcam"]["accuracy"] is None
    assert result["exclusions"]["participants"] == 0
    analysis.text_report(result)
