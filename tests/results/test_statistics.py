"""The statistical building blocks against values computed independently (by hand, scipy, statsmodels)."""

import math

import numpy as np
import pytest
from scipy import stats

from studies.results import analysis as A


def test_wilson_interval_of_7_of_10_matches_the_closed_form():
    # Wilson: (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)
    z, n, p = stats.norm.ppf(0.975), 10, 0.7
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low, high = A.wilson_interval(7, 10)
    assert low == pytest.approx(centre - half, abs=1e-12)
    assert high == pytest.approx(centre + half, abs=1e-12)
    assert (round(low, 4), round(high, 4)) == (0.3968, 0.8922)


def test_exact_binomial_against_chance_by_hand():
    # P(X >= 9) + P(X <= 1) for X ~ Bin(10, 1/2) = 2 * (10 + 1) / 1024
    assert A.binomial_vs_chance(9, 10, 0.5) == pytest.approx(22 / 1024)
    assert A.binomial_vs_chance(5, 10, 0.5) == pytest.approx(1.0)


def test_holm_on_known_p_values():
    # sorted 0.01, 0.02, 0.03, 0.04 -> 0.04, 0.06, 0.06, 0.06 (monotone), returned in input order
    adjusted, reject = A.holm([0.03, 0.01, 0.04, 0.02])
    assert adjusted == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert reject == [False, True, False, False]
    adjusted, reject = A.holm([None, 0.01, float("nan")])
    assert adjusted == [None, pytest.approx(0.01), None]


def test_wilcoxon_signed_rank_on_a_known_vector():
    # no ties, no zeros, n=8: W+ = 1+2+...: exact distribution
    x = [1.5, -0.5, 2.0, 3.5, -1.0, 4.0, 2.5, 3.0]
    stat, p = A.wilcoxon_vs_zero(x)
    assert stat == 3.0  # min(W+, W-) with ranks of |x|: negatives have ranks 1 and 2
    # exact two-sided p: number of sign assignments with W- <= 3, out of 2^8, doubled
    from itertools import product

    ranks = stats.rankdata(np.abs(x))
    count = sum(1 for signs in product([0, 1], repeat=8) if sum(r for r, s in zip(ranks, signs, strict=True) if s) <= 3)
    assert p == pytest.approx(2 * count / 256)
    assert A.wilcoxon_vs_zero([0, 0, 0]) != A.wilcoxon_vs_zero([1, 2])  # all zeros -> NaN, no crash


def test_cohens_h_and_odds_ratio_by_hand():
    assert A.cohens_h(0.6123, 0.4444) == pytest.approx(
        2 * math.asin(math.sqrt(0.6123)) - 2 * math.asin(math.sqrt(0.4444))
    )
    assert A.odds_ratio(8, 10, 5, 10) == pytest.approx((8 / 2) / (5 / 5))
    assert A.odds_ratio(10, 10, 5, 10) == pytest.approx((10.5 * 5.5) / (0.5 * 5.5))  # Haldane


def test_two_proportion_z_by_hand():
    k1, n1, k2, n2 = 24, 30, 15, 30
    p = (k1 + k2) / (n1 + n2)
    z = (k1 / n1 - k2 / n2) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    got_z, got_p = A.two_proportion_test(k1, n1, k2, n2)
    assert got_z == pytest.approx(z)
    assert got_p == pytest.approx(2 * stats.norm.sf(abs(z)))


def test_power_for_the_papers_comparison():
    result = A.participants_for_two_proportions(0.6123, 0.4444, alpha=0.05, power=0.8)
    h = 2 * math.asin(math.sqrt(0.6123)) - 2 * math.asin(math.sqrt(0.4444))
    # var(2 asin sqrt(p_hat)) = 1/n, so the difference of two groups has variance 2/n
    n = 2 * ((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) / h) ** 2
    assert result["exact_n"] == pytest.approx(n, rel=1e-3)
    assert result["observations_per_condition"] == math.ceil(result["exact_n"]) == 138
    assert result["participants_per_condition"] == 138
    per = A.participants_for_two_proportions(0.6123, 0.4444, trials_per_participant=10, icc=0.1)
    assert per["design_effect"] == pytest.approx(1.9)
    assert per["participants_per_condition"] == math.ceil(result["exact_n"] * 1.9 / 10)


def test_cluster_bootstrap_is_seeded_and_matches_the_plain_bootstrap_with_one_value_per_cluster():
    rng = np.random.default_rng(1)
    values = rng.integers(-2, 3, size=200).astype(float)
    a = A.cluster_bootstrap_mean(values, range(200), seed=5)
    assert a == A.cluster_bootstrap_mean(values, range(200), seed=5)
    assert a[0] < values.mean() < a[1]
    ref = stats.bootstrap(
        (values,), np.mean, method="percentile", n_resamples=10000, random_state=0
    ).confidence_interval
    assert a[0] == pytest.approx(ref.low, abs=0.05)
    assert a[1] == pytest.approx(ref.high, abs=0.05)
    assert A.cluster_bootstrap_mean([1.0, 1.0, 1.0], ["x", "y", "z"]) == (1.0, 1.0)


def test_gee_agrees_with_the_statsmodels_formula_interface():
    import pandas as pd
    import statsmodels.formula.api as smf
    from statsmodels.genmod.cov_struct import Exchangeable
    from statsmodels.genmod.families import Binomial

    rng = np.random.default_rng(2)
    rows = []
    for person in range(20):
        bias = rng.normal(0, 0.5)
        for method, base in (("a", 0.8), ("b", 0.0)):
            for _ in range(6):
                rows.append(
                    {"pid": f"p{person}", "m": method, "y": int(rng.random() < 1 / (1 + math.exp(-(base + bias))))}
                )
    df = pd.DataFrame(rows)
    ref = smf.gee("y ~ C(m, Treatment('b'))", groups="pid", data=df, family=Binomial(), cov_struct=Exchangeable()).fit()
    got = A.gee_logistic(df["y"], df["m"] == "a", df["pid"])
    assert got["log_odds_ratio"] == pytest.approx(ref.params.iloc[1], rel=1e-6)
    assert got["p"] == pytest.approx(ref.pvalues.iloc[1], rel=1e-6)
    assert A.gee_logistic([1, 1, 1], [1, 0, 1], ["a", "a", "b"]) == {"error": "no variation to model"}


def test_mann_whitney_and_paired_rank_biserial():
    a, b = [1.0, 2.0, 3.0, 4.0], [0.0, 0.5, 1.5, -1.0]
    got = A.mann_whitney(a, b)
    ref = stats.mannwhitneyu(a, b, alternative="two-sided")
    assert got["p"] == pytest.approx(ref.pvalue)
    assert got["rank_biserial"] == pytest.approx(2 * ref.statistic / 16 - 1)
    assert A.rank_biserial_paired([1, 2, -3, 4]) == pytest.approx((1 + 2 + 4 - 3) / 10)


def test_exclusion_rules():
    rules = A.ExclusionRules(max_failed_attention_checks=1, min_median_rt_ms=300)
    assert A.exclusion_reasons(1, [400, 500], rules) == []
    assert A.exclusion_reasons(2, [400, 500], rules) == [A.REASON_ATTENTION]
    assert A.exclusion_reasons(0, [100, 200, 900], rules) == [A.REASON_FAST]  # median 200
    assert A.exclusion_reasons(0, [100, 500], rules) == []  # median 300 is not below 300
    assert A.exclusion_reasons(5, [1], rules) == [A.REASON_ATTENTION, A.REASON_FAST]
    assert A.exclusion_reasons(0, [], rules) == []
    assert A.exclusion_reasons(0, [1], A.ExclusionRules(0, 0)) == []
