"""The statistics of a study, as pure functions over the responses export's DataFrame.

Nothing here touches the database: `report()` takes the DataFrame that `read_export_csv()` reads
from a CSV written by `studies.results.export`, or that `studies.results.export.responses_frame()` builds from the
database through the very same row generator, so both routes give the same numbers.

Decisions (documented in docs/codebook.md, "Analysis"):
- Exclusions are the study's declared rules, applied per participant: more failed attention
  checks than allowed, or a median response time on main trials below the minimum.
- Pilot participants are never part of the main analysis; they get their own summary.
- Simulated participants are analyzed like everyone else (they are how the demo shows the
  pipeline); the participants export flags them and the report counts them when it has that export.
- Only main trials of included, non-pilot participants enter the statistics.
- The unit of a test that assumes independence is the participant: trust tests use per-participant
  mean scores; the within-subjects accuracy comparison is a GEE logistic model with participants
  as clusters; the trust bootstrap resamples participants (cluster bootstrap).
"""

from __future__ import annotations

import io
import math
import statistics
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from ..design import NO_EXPLANATION
from ..kinds import DEFAULT_KIND, KINDS, kind_columns, kind_of


def _kinds_columns_of(column_type: type) -> tuple[str, ...]:
    return tuple(name for name, kind_type in kind_columns().items() if kind_type is column_type)


REASON_ATTENTION = "failed_attention_checks"
REASON_FAST = "median_rt_below_minimum"
REASON_SEPARATOR = ";"
# A participant who withdrew under the study's "exclude" policy: recorded by the platform, not a rule.
REASON_WITHDRAWN = "withdrawn"
LIST_SEPARATOR = "|"

BOOL_COLUMNS = ("is_pilot", "excluded", "correct", "swapped", "prediction_correct", *_kinds_columns_of(bool))
INT_COLUMNS = ("position", "rating", "rating_toward_stronger", "rt_ms", "confidence", *_kinds_columns_of(int))
FLOAT_COLUMNS = ("score", *_kinds_columns_of(float))
TRUST_SCALE = (-2, -1, 0, 1, 2)
DEFAULT_BOOTSTRAP = 10_000


# --- exclusions ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExclusionRules:
    """A study's declared exclusion rules (Study.max_failed_attention_checks, Study.min_median_rt_ms)."""

    max_failed_attention_checks: int = 0
    min_median_rt_ms: int = 0


def exclusion_reasons(failed_attention_checks: int, main_rts: Iterable[int | None], rules: ExclusionRules) -> list[str]:
    """Why a participant is excluded (empty: included). Shared by the export and the analysis."""
    reasons = []
    if failed_attention_checks > rules.max_failed_attention_checks:
        reasons.append(REASON_ATTENTION)
    rts = [int(r) for r in main_rts if r is not None and not (isinstance(r, float) and math.isnan(r))]
    if rules.min_median_rt_ms and rts and statistics.median(rts) < rules.min_median_rt_ms:
        reasons.append(REASON_FAST)
    return reasons


# --- reading the export ----------------------------------------------------------------------
def _to_bool(value):
    if value is None or value is pd.NA:
        return pd.NA
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, float) and math.isnan(value):
        return pd.NA
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    return pd.NA


def normalize_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Give the export's columns canonical types, whether they came from Python values or CSV text.

    Booleans become pandas "boolean", integers "Int64" (both nullable), everything else text with
    "" for empty cells.
    """
    df = df.copy()
    for column in df.columns:
        if column in BOOL_COLUMNS:
            df[column] = df[column].map(_to_bool).astype("boolean")
        elif column in INT_COLUMNS:
            df[column] = pd.to_numeric(df[column].replace("", None), errors="coerce").astype("Int64")
        elif column in FLOAT_COLUMNS:
            df[column] = pd.to_numeric(df[column].replace("", None), errors="coerce").astype("Float64")
        else:
            df[column] = df[column].map(
                lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
            )
            df[column] = df[column].astype(object)
    return df.reset_index(drop=True)


def read_export_csv(source) -> pd.DataFrame:
    """Read a responses export (path, file object or CSV text in a StringIO) into a typed DataFrame."""
    df = pd.read_csv(source, dtype=str, keep_default_na=False, na_values=[])
    return normalize_frame(df)


def frame_from_rows(rows: Iterable[Mapping], columns: Sequence[str]) -> pd.DataFrame:
    return normalize_frame(pd.DataFrame(list(rows), columns=list(columns)))


# --- small statistics ------------------------------------------------------------------------
def wilson_interval(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    from statsmodels.stats.proportion import proportion_confint

    if n == 0:
        return (math.nan, math.nan)
    low, high = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return float(low), float(high)


def binomial_vs_chance(successes: int, n: int, chance: float) -> float:
    """Two-sided exact binomial test of the accuracy against chance."""
    from scipy.stats import binomtest

    if n == 0:
        return math.nan
    return float(binomtest(successes, n, chance, alternative="two-sided").pvalue)


def holm(pvalues: Sequence[float | None], alpha: float = 0.05) -> tuple[list[float | None], list[bool | None]]:
    """Holm-adjusted p-values and rejections; entries that are None or NaN stay None."""
    from statsmodels.stats.multitest import multipletests

    keep = [i for i, p in enumerate(pvalues) if p is not None and not math.isnan(p)]
    adjusted: list[float | None] = [None] * len(pvalues)
    reject: list[bool | None] = [None] * len(pvalues)
    if keep:
        rej, padj, _, _ = multipletests([pvalues[i] for i in keep], alpha=alpha, method="holm")
        for i, r, p in zip(keep, rej, padj, strict=True):
            adjusted[i] = float(p)
            reject[i] = bool(r)
    return adjusted, reject


def cohens_h(p1: float, p2: float) -> float:
    from statsmodels.stats.proportion import proportion_effectsize

    return float(proportion_effectsize(p1, p2))


def odds_ratio(k1: int, n1: int, k2: int, n2: int) -> float:
    """Odds of success in group 1 over group 2; adds 0.5 to every cell when one is zero (Haldane)."""
    a, b, c, d = k1, n1 - k1, k2, n2 - k2
    if min(a, b, c, d) == 0:
        a, b, c, d = a + 0.5, b + 0.5, c + 0.5, d + 0.5
    return float((a * d) / (b * c))


def two_proportion_test(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """z statistic and two-sided p of the pooled two-proportion z test (statsmodels)."""
    from statsmodels.stats.proportion import proportions_ztest

    if n1 == 0 or n2 == 0:
        return math.nan, math.nan
    pooled = (k1 + k2) / (n1 + n2)
    if pooled in (0.0, 1.0):
        return 0.0, 1.0
    z, p = proportions_ztest([k1, k2], [n1, n2], alternative="two-sided")
    return float(z), float(p)


def gee_logistic(correct: Sequence, in_first: Sequence, groups: Sequence) -> dict:
    """GEE logistic of correctness on one indicator, participants as clusters (exchangeable).

    Returns the log odds ratio of the first method over the second, its odds ratio with a robust 95%
    interval, and the robust Wald z test's p-value.
    """
    import statsmodels.api as sm

    y = np.asarray(correct, dtype=float)
    x = np.asarray(in_first, dtype=float)
    codes = pd.factorize(pd.Series(list(groups)))[0]
    if len(y) == 0 or len(np.unique(y)) < 2 or len(np.unique(x)) < 2:
        return {"error": "no variation to model"}
    exog = np.column_stack([np.ones_like(x), x])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = sm.GEE(
                y, exog, groups=codes, family=sm.families.Binomial(), cov_struct=sm.cov_struct.Exchangeable()
            )
            result = model.fit()
        coef = float(result.params[1])
        low, high = (float(v) for v in result.conf_int()[1])
        p = float(result.pvalues[1])
    except Exception as exc:  # perfect separation, singular covariance
        return {"error": f"GEE failed: {exc.__class__.__name__}"}
    if not all(math.isfinite(v) for v in (coef, low, high, p)):
        return {"error": "GEE did not converge to finite estimates"}
    return {
        "log_odds_ratio": coef,
        "odds_ratio": math.exp(coef),
        "or_ci_low": math.exp(low),
        "or_ci_high": math.exp(high),
        "z": coef / float(result.bse[1]),
        "p": p,
    }


def cluster_bootstrap_mean(
    values: Sequence[float],
    clusters: Sequence,
    *,
    n_resamples: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values`, resampling whole clusters (participants).

    With one value per cluster this is the ordinary percentile bootstrap of the mean.
    """
    frame = pd.DataFrame({"v": np.asarray(values, dtype=float), "c": list(clusters)})
    if frame.empty:
        return (math.nan, math.nan)
    grouped = frame.groupby("c", sort=True)["v"].agg(["sum", "count"])
    sums, counts = grouped["sum"].to_numpy(), grouped["count"].to_numpy()
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(sums), size=(n_resamples, len(sums)))
    means = sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def wilcoxon_vs_zero(values: Sequence[float]) -> tuple[float, float]:
    """Wilcoxon signed-rank test of the values against zero (zeros dropped, as in Wilcoxon's method)."""
    from scipy.stats import wilcoxon

    x = np.asarray(values, dtype=float)
    if len(x) == 0 or np.all(x == 0):
        return math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = wilcoxon(x)
    return float(result.statistic), float(result.pvalue)


def rank_biserial_paired(differences: Sequence[float]) -> float:
    """Matched-pairs rank-biserial correlation: (R+ - R-) / (R+ + R-), zeros dropped."""
    from scipy.stats import rankdata

    d = np.asarray(differences, dtype=float)
    d = d[d != 0]
    if len(d) == 0:
        return 0.0
    ranks = rankdata(np.abs(d))
    return float((ranks[d > 0].sum() - ranks[d < 0].sum()) / ranks.sum())


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> dict:
    from scipy.stats import mannwhitneyu

    if len(a) == 0 or len(b) == 0:
        return {"error": "a group is empty"}
    result = mannwhitneyu(a, b, alternative="two-sided")
    u = float(result.statistic)
    return {"statistic": u, "p": float(result.pvalue), "rank_biserial": 2 * u / (len(a) * len(b)) - 1}


# --- power -----------------------------------------------------------------------------------
def participants_for_two_proportions(
    p1: float,
    p2: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    trials_per_participant: int = 1,
    icc: float = 0.0,
    alternative: str = "two-sided",
) -> dict:
    """Sample size per condition to detect p1 vs p2 (Cohen's h, normal approximation, statsmodels).

    `observations_per_condition` is what NormalIndPower asks for. With several trials per participant
    the observations are not independent; the design effect 1 + (m - 1) * icc inflates them, and
    `participants_per_condition` divides by m. icc=0 assumes independent trials (a lower bound).
    """
    from statsmodels.stats.power import NormalIndPower

    h = cohens_h(p1, p2)
    n = NormalIndPower().solve_power(effect_size=abs(h), alpha=alpha, power=power, ratio=1.0, alternative=alternative)
    m = max(1, int(trials_per_participant))
    deff = 1 + (m - 1) * icc
    return {
        "p1": p1,
        "p2": p2,
        "alpha": alpha,
        "power": power,
        "cohens_h": h,
        "observations_per_condition": math.ceil(n),
        "exact_n": float(n),
        "trials_per_participant": m,
        "icc": icc,
        "design_effect": deff,
        "participants_per_condition": math.ceil(n * deff / m),
    }


# --- the report ------------------------------------------------------------------------------
def infer_kind(df: pd.DataFrame) -> str:
    """The task kind of an export read without its study: the first registered kind whose own
    column the export fills (class discrimination fills none of its own)."""
    for kind in KINDS.values():
        column = kind.signature_column
        if column and column in df.columns and df[column].notna().any():
            return kind.name
    return DEFAULT_KIND


def infer_design(df: pd.DataFrame) -> str:
    main = df[df["trial_kind"] == "main"]
    if main.empty:
        return "between"
    return "within" if (main.groupby("participant")["method"].nunique() > 1).any() else "between"


def participant_table(df: pd.DataFrame, rules: ExclusionRules | None) -> pd.DataFrame:
    """One row per participant: condition, pilot, failed attention checks, median main RT, exclusion.

    With rules, exclusion is recomputed from the responses; without, the export's columns are used.
    """
    rows = []
    for participant, group in df.groupby("participant", sort=False):
        attention = group[group["trial_kind"] == "attention"]
        failed = int((attention["correct"] == False).sum())  # noqa: E712 (nullable booleans)
        main_rts = [int(v) for v in group.loc[group["trial_kind"] == "main", "rt_ms"].dropna()]
        if rules is not None:
            reasons = exclusion_reasons(failed, main_rts, rules)
            recorded = str(group["exclusion_reason"].iloc[0]) if "exclusion_reason" in group else ""
            if REASON_WITHDRAWN in recorded.split(REASON_SEPARATOR):
                reasons.append(REASON_WITHDRAWN)  # no rule recomputes a withdrawal
        else:
            text = str(group["exclusion_reason"].iloc[0])
            reasons = [r for r in text.split(REASON_SEPARATOR) if r]
            if bool(group["excluded"].fillna(False).iloc[0]) and not reasons:
                reasons = ["unspecified"]
        rows.append(
            {
                "participant": participant,
                "condition": group["condition"].iloc[0],
                "is_pilot": bool(group["is_pilot"].fillna(False).iloc[0]),
                "failed_attention_checks": failed,
                "median_rt_main": statistics.median(main_rts) if main_rts else None,
                "excluded": bool(reasons),
                "reasons": reasons,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "participant",
            "condition",
            "is_pilot",
            "failed_attention_checks",
            "median_rt_main",
            "excluded",
            "reasons",
        ],
    )


def exclusion_summary(people: pd.DataFrame, rules: ExclusionRules | None) -> dict:
    main = people[~people["is_pilot"]] if not people.empty else people
    by_reason = {REASON_ATTENTION: 0, REASON_FAST: 0}
    for reasons in main["reasons"]:
        for r in reasons:
            by_reason[r] = by_reason.get(r, 0) + 1
    by_condition = {}
    for condition, group in main.groupby("condition", sort=True):
        by_condition[condition] = {
            "participants": len(group),
            "excluded": int(group["excluded"].sum()),
            "included": int((~group["excluded"]).sum()),
        }
    return {
        "rules": asdict(rules) if rules is not None else None,
        "participants": len(main),
        "excluded": int(main["excluded"].sum()) if len(main) else 0,
        "included": int((~main["excluded"]).sum()) if len(main) else 0,
        "by_reason": by_reason,
        "by_condition": by_condition,
        "pilot_participants": int(people["is_pilot"].sum()) if len(people) else 0,
        "excluded_participants": sorted(main.loc[main["excluded"], "participant"].tolist()),
    }


def _chance(rows: pd.DataFrame) -> float:
    counts = [len([o for o in str(opts).split(LIST_SEPARATOR) if o]) for opts in rows["options"]]
    counts = [c for c in counts if c > 0]
    return float(np.mean([1.0 / c for c in counts])) if counts else 0.5


def class_discrimination_methods(
    main: pd.DataFrame,
    methods: Sequence[str],
    *,
    seed: int = 0,
    n_resamples: int = DEFAULT_BOOTSTRAP,
    reference: str | None = None,
) -> dict:
    out = {}
    for method in methods:
        rows = main[(main["method"] == method) & main["correct"].notna()]
        n = len(rows)
        k = int(rows["correct"].astype(bool).sum()) if n else 0
        low, high = wilson_interval(k, n)
        per_person = rows.groupby("participant")["correct"].apply(lambda s: float(s.astype(bool).mean()))
        chance = _chance(rows) if n else 0.5
        out[method] = {
            "n": n,
            "correct": k,
            "accuracy": k / n if n else None,
            "ci_low": low,
            "ci_high": high,
            "participants": int(len(per_person)),
            "participant_accuracy_mean": float(per_person.mean()) if len(per_person) else None,
            "participant_accuracy_sd": float(per_person.std(ddof=1)) if len(per_person) > 1 else None,
            "chance": chance,
            "p_vs_chance": binomial_vs_chance(k, n, chance) if n else None,
        }
    add_design_aware_accuracy(out, main, methods, seed=seed, n_resamples=n_resamples, reference=reference)
    return out


def accuracy_vs_chance_by_participant(rows: pd.DataFrame) -> dict:
    """One-sample t test of each participant's accuracy minus their chance level, against zero.

    The participant is the unit (their answers are not independent of each other), so each one
    gives one number: accuracy on these rows minus the mean of 1 / number of options on them. A t
    test and not a Wilcoxon signed-rank test: the question is whether mean accuracy exceeds chance,
    which the t test asks directly and which a bounded per-participant accuracy answers well at the
    usual numbers of participants, whereas Wilcoxon asks about a symmetric location shift and drops
    every participant exactly at chance, a common case with few trials each.
    """
    from scipy.stats import ttest_1samp

    if rows.empty:
        empty = ("participants", "mean_difference", "statistic", "df", "p")
        return {"test": "one_sample_t", **dict.fromkeys(empty), "participants": 0}
    by_person = rows.groupby("participant", sort=True)
    accuracy = by_person["correct"].apply(lambda s: float(s.astype(bool).mean()))
    chance = by_person.apply(_chance, include_groups=False) if "options" in rows else 0.5
    diff = (accuracy - chance).to_numpy(dtype=float)
    if len(diff) < 2:
        stat = p = math.nan
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # identical differences: scipy warns and returns NaN
            result = ttest_1samp(diff, 0.0)
        stat, p = float(result.statistic), float(result.pvalue)
    return {
        "test": "one_sample_t",
        "participants": int(len(diff)),
        "mean_difference": float(diff.mean()),
        "statistic": stat,
        "df": int(len(diff) - 1),
        "p": p,
    }


def add_design_aware_accuracy(
    out: dict,
    main: pd.DataFrame,
    methods: Sequence[str],
    *,
    seed: int = 0,
    n_resamples: int = DEFAULT_BOOTSTRAP,
    reference: str | None = None,
) -> None:
    """Add to each method's summary the statistics that respect who answered and on which image.

    New keys only: `bootstrap_ci_low/high` (percentile interval of the accuracy resampling
    participants), `p_vs_chance_participants` with its test in `vs_chance_participants`, and
    `mixed_effects` (a logistic model with crossed random intercepts for participant and image,
    fitted once for all methods: `studies.results.mixed_effects`; with a `reference` arm, each other
    method's `mixed_effects.contrast` tests its difference from that arm).
    """
    from studies.results.mixed_effects import fit_accuracy_model

    scored = main[main["method"].isin(list(methods)) & main["correct"].notna()]
    if "image" not in scored:
        scored = scored.assign(image="")
    fit = (
        fit_accuracy_model(scored, list(methods), reference=reference)
        if len(scored)
        else {"error": "no scored answers"}
    )
    shared = {key: fit.get(key) for key in ("sd_participant", "sd_image", "random_effects", "converged")}
    shared.update({key: fit.get(key) for key in ("responses", "participants", "images")})
    for i, method in enumerate(methods):
        rows = scored[scored["method"] == method]
        values = rows["correct"].astype(bool).astype(float)
        low, high = (
            cluster_bootstrap_mean(values, rows["participant"], seed=seed + i, n_resamples=n_resamples)
            if len(rows)
            else (None, None)
        )
        vs_chance = accuracy_vs_chance_by_participant(rows)
        entry = fit.get("methods", {}).get(method) or {"error": fit.get("error", "no scored answers")}
        out[method]["bootstrap_ci_low"] = low
        out[method]["bootstrap_ci_high"] = high
        out[method]["p_vs_chance_participants"] = vs_chance["p"]
        out[method]["vs_chance_participants"] = vs_chance
        out[method]["mixed_effects"] = entry if "error" in entry else {**entry, **shared}


def class_discrimination_comparisons(
    main: pd.DataFrame, methods: Sequence[str], design: str, summary: dict
) -> list[dict]:
    comparisons = []
    for a, b in combinations(methods, 2):
        sa, sb = summary[a], summary[b]
        entry = {"a": a, "b": b}
        if not sa["n"] or not sb["n"]:
            entry.update({"test": None, "p": None, "error": "a method has no responses"})
            comparisons.append(entry)
            continue
        pa, pb = sa["accuracy"], sb["accuracy"]
        entry["difference"] = pa - pb
        entry["cohens_h"] = cohens_h(pa, pb)
        entry["odds_ratio"] = odds_ratio(sa["correct"], sa["n"], sb["correct"], sb["n"])
        if design == "within":
            rows = main[main["method"].isin([a, b]) & main["correct"].notna()]
            fit = gee_logistic(rows["correct"].astype(bool), rows["method"] == a, rows["participant"])
            entry["test"] = "gee_logistic_exchangeable"
            if "error" in fit:
                entry.update({"p": None, "error": fit["error"]})
            else:
                entry.update(
                    {
                        "statistic": fit["z"],
                        "p": fit["p"],
                        "odds_ratio": fit["odds_ratio"],
                        "or_ci_low": fit["or_ci_low"],
                        "or_ci_high": fit["or_ci_high"],
                    }
                )
        else:
            z, p = two_proportion_test(sa["correct"], sa["n"], sb["correct"], sb["n"])
            entry.update({"test": "two_proportion_z", "statistic": z, "p": p})
        comparisons.append(entry)
    return comparisons


def bootstrap_accuracy_differences(
    rows: pd.DataFrame,
    methods: Sequence[str],
    reference: str,
    *,
    seed: int = 0,
    n_resamples: int = DEFAULT_BOOTSTRAP,
    alpha: float = 0.05,
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of accuracy(method) - accuracy(reference), resampling participants.

    Participants are resampled within groups of those who answered the same arms, so that a
    between-subjects study keeps each arm's number of participants (the arms are independent samples)
    and a within-subjects study resamples each participant's answers in every arm together (their
    correlation is kept). Each resample pools the drawn participants' answers per arm.
    """
    arms = list(dict.fromkeys([reference, *methods]))
    scored = rows[rows["method"].isin(arms) & rows["correct"].notna()]
    if scored.empty:
        return {m: (math.nan, math.nan) for m in methods}
    values = scored["correct"].astype(bool).astype(float)
    table = (
        scored.assign(v=values)
        .groupby(["participant", "method"])["v"]
        .agg(["sum", "count"])
        .unstack("method", fill_value=0)
        .reindex(columns=pd.MultiIndex.from_product([["sum", "count"], arms]), fill_value=0)
    )
    sums, counts = table["sum"].to_numpy(float), table["count"].to_numpy(float)  # participants x arms
    groups: dict[bytes, list[int]] = {}  # the participants who answered the same arms
    for i, answered in enumerate(counts > 0):
        groups.setdefault(answered.tobytes(), []).append(i)
    rng = np.random.default_rng(seed)
    boot_sums = np.zeros((n_resamples, len(arms)))
    boot_counts = np.zeros((n_resamples, len(arms)))
    for key in sorted(groups):
        members = np.asarray(groups[key])
        picks = members[rng.integers(0, len(members), size=(n_resamples, len(members)))]
        boot_sums += sums[picks].sum(axis=1)
        boot_counts += counts[picks].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = boot_sums / boot_counts
    out = {}
    for j, method in enumerate(arms[1:], start=1):
        if method not in methods:
            continue
        diff = accuracy[:, j] - accuracy[:, 0]
        diff = diff[np.isfinite(diff)]
        if not len(diff):
            out[method] = (math.nan, math.nan)
            continue
        low, high = np.quantile(diff, [alpha / 2, 1 - alpha / 2])
        out[method] = (float(low), float(high))
    return out


def arms_accuracy_and_utility(
    main: pd.DataFrame,
    arms: Sequence[str],
    design: str,
    *,
    seed: int = 0,
    n_resamples: int = DEFAULT_BOOTSTRAP,
    control: str = NO_EXPLANATION,
) -> tuple[dict, list[dict]]:
    """The analysis of a study with a no-explanation control arm (Colin, Fel et al. 2022's utility).

    Per arm: accuracy with its Wilson, participant-bootstrap and mixed-model intervals
    (`class_discrimination_methods`). Per method (every arm but the control): `utility` = its
    accuracy minus the control arm's, with a percentile interval that resamples participants
    (`bootstrap_accuracy_differences`) and the mixed model's test of the same difference (answers
    nested in participants and images; `mixed_effects.fit_accuracy_model`'s contrast). Without the
    control arm among `arms` (a study without one) there is no utility, only the accuracies.
    Returns (summary, pairwise comparisons of every two arms).
    """
    arms = list(arms)
    reference = control if control in arms else None
    summary = class_discrimination_methods(main, arms, seed=seed, n_resamples=n_resamples, reference=reference)
    if reference is not None:
        methods = [a for a in arms if a != reference]
        intervals = bootstrap_accuracy_differences(main, methods, reference, seed=seed, n_resamples=n_resamples)
        base = summary[reference]["accuracy"]
        for method in methods:
            own = summary[method]["accuracy"]
            low, high = intervals[method]
            contrast = (summary[method].get("mixed_effects") or {}).get("contrast") or {
                "error": (summary[method].get("mixed_effects") or {}).get("error", "no mixed model")
            }
            summary[method]["utility"] = {
                "control": reference,
                "difference": own - base if own is not None and base is not None else None,
                "bootstrap_ci_low": low,
                "bootstrap_ci_high": high,
                "mixed_effects": contrast,
                "p": contrast.get("p"),
            }
    return summary, class_discrimination_comparisons(main, arms, design, summary)


def utility_text(methods: Mapping) -> str:
    """The utility lines of the report (empty for results without a control arm)."""
    rows = {name: m["utility"] for name, m in methods.items() if "utility" in m}
    if not rows:
        return ""
    out = io.StringIO()
    w = out.write
    control = next(iter(rows.values()))["control"]
    w(f"\n  Utility: accuracy minus the no-explanation arm's ({control})\n")
    w(f"  {'method':<24}{'utility':>8}  {'95% CI (bootstrap, ppl)':<25}{'OR (mixed)':>11}{'p (mixed)':>11}\n")
    for name, u in rows.items():
        me = u["mixed_effects"]
        boot = f"[{_fmt(u['bootstrap_ci_low'])}, {_fmt(u['bootstrap_ci_high'])}]"
        w(
            f"  {name:<24}{_fmt(u['difference']):>8}  {boot:<25}{_fmt(me.get('odds_ratio')):>11}{_fmt(me.get('p')):>11}\n"
        )
    return out.getvalue()


def _person_means(rows: pd.DataFrame) -> pd.Series:
    return rows.groupby("participant", sort=True)["rating_toward_stronger"].apply(
        lambda s: float(s.astype(float).mean())
    )


def trust_methods(main: pd.DataFrame, methods: Sequence[str], seed: int, n_resamples: int) -> dict:
    out = {}
    for i, method in enumerate(methods):
        rows = main[(main["method"] == method) & main["rating_toward_stronger"].notna()]
        scores = rows["rating_toward_stronger"].astype(float)
        n = len(rows)
        low, high = (
            cluster_bootstrap_mean(scores, rows["participant"], seed=seed + i, n_resamples=n_resamples)
            if n
            else (None, None)
        )
        person = _person_means(rows)
        stat, p = wilcoxon_vs_zero(person.to_numpy()) if len(person) else (math.nan, math.nan)
        counts = {str(v): int((rows["rating_toward_stronger"] == v).sum()) for v in TRUST_SCALE}
        out[method] = {
            "n": n,
            "mean_rating": float(scores.mean()) if n else None,
            "ci_low": low,
            "ci_high": high,
            "p_vs_zero": p,
            "wilcoxon_statistic": stat,
            "participants": int(len(person)),
            "sd": float(scores.std(ddof=1)) if n > 1 else None,
            "distribution": counts,
            "proportions": {key: (c / n if n else None) for key, c in counts.items()},
        }
    return out


def trust_comparisons(main: pd.DataFrame, methods: Sequence[str], design: str, summary: dict) -> list[dict]:
    from scipy.stats import wilcoxon

    comparisons = []
    for a, b in combinations(methods, 2):
        entry = {"a": a, "b": b}
        ma, mb = summary[a]["mean_rating"], summary[b]["mean_rating"]
        entry["difference"] = (ma - mb) if ma is not None and mb is not None else None
        pa = _person_means(main[(main["method"] == a) & main["rating_toward_stronger"].notna()])
        pb = _person_means(main[(main["method"] == b) & main["rating_toward_stronger"].notna()])
        if design == "within":
            both = pd.concat([pa.rename("a"), pb.rename("b")], axis=1, join="inner")
            d = (both["a"] - both["b"]).to_numpy()
            entry["test"] = "paired_wilcoxon"
            entry["pairs"] = int(len(d))
            if len(d) == 0 or np.all(d == 0):
                entry.update({"p": None, "error": "no non-zero paired differences"})
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    result = wilcoxon(d)
                entry.update(
                    {
                        "statistic": float(result.statistic),
                        "p": float(result.pvalue),
                        "rank_biserial": rank_biserial_paired(d),
                    }
                )
        else:
            entry["test"] = "mann_whitney_u"
            result = mann_whitney(pa.to_numpy(), pb.to_numpy())
            if "error" in result:
                entry.update({"p": None, "error": result["error"]})
            else:
                entry.update(result)
        comparisons.append(entry)
    return comparisons


def _clean(value):
    """JSON-ready: numpy scalars to Python, NaN and infinities to None."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is pd.NA:
        return None
    return value


def _method_order(df: pd.DataFrame, methods: Sequence[str] | None) -> list[str]:
    seen = sorted(set(df.loc[df["trial_kind"] == "main", "method"]) - {""})
    if methods:
        return list(methods) + [m for m in seen if m not in methods]
    return seen


def report(
    df: pd.DataFrame,
    *,
    kind: str | None = None,
    design: str | None = None,
    methods: Sequence[str] | None = None,
    rules: ExclusionRules | None = None,
    seed: int = 0,
    n_resamples: int = DEFAULT_BOOTSTRAP,
    participants: pd.DataFrame | None = None,
    plan: tuple[float, float] | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    trials_per_participant: int | None = None,
) -> dict:
    """The whole analysis of one study's responses export as a JSON-ready dict.

    `methods` (the study's order) and `rules` come from the study when it is known; without them the
    methods are sorted and the exclusions are read from the export's own columns. `participants` is
    the participants export, used only to count simulated participants. `plan` adds a power analysis,
    at `trials_per_participant` (the study's number; else the median observed so far).
    """
    df = normalize_frame(df) if len(df) and df["is_pilot"].dtype != "boolean" else df
    kind = kind or (infer_kind(df) if len(df) else DEFAULT_KIND)
    design = design or (infer_design(df) if len(df) else "between")
    order = _method_order(df, methods) if len(df) else list(methods or [])
    people = (
        participant_table(df, rules)
        if len(df)
        else participant_table(
            pd.DataFrame(
                columns=[
                    "participant",
                    "trial_kind",
                    "correct",
                    "rt_ms",
                    "condition",
                    "is_pilot",
                    "exclusion_reason",
                    "excluded",
                ]
            ),
            rules,
        )
    )
    excluded_ids = set(people.loc[people["excluded"], "participant"]) if len(people) else set()
    pilot_ids = set(people.loc[people["is_pilot"], "participant"]) if len(people) else set()

    main_all = df[df["trial_kind"] == "main"] if len(df) else df
    main = main_all[~main_all["participant"].isin(excluded_ids | pilot_ids)] if len(df) else df
    pilot_main = main_all[main_all["participant"].isin(pilot_ids)] if len(df) else df

    exclusions = exclusion_summary(people, rules)
    exclusions["responses"] = int(len(df))
    exclusions["responses_analyzed"] = int(len(main))

    out = {"kind": kind, "design": design, "method_order": order, "exclusions": exclusions}
    task = kind_of(kind)
    summary, comparisons = task.analyze(main, order, design, seed, n_resamples)
    pilot_summary = task.analyze(pilot_main, order, design, seed, n_resamples)[0] if len(pilot_ids) else {}
    adjusted, reject = holm([c.get("p") for c in comparisons], alpha=alpha)
    for c, p, r in zip(comparisons, adjusted, reject, strict=True):
        c["p_holm"] = p
        c["reject_holm"] = r
    out["methods"] = summary
    out["comparisons"] = comparisons
    out["pilot"] = {"participants": len(pilot_ids), "responses": int(len(pilot_main)), "methods": pilot_summary}
    if participants is not None and len(participants):
        flags = participants.set_index("participant")
        simulated = {p for p, v in flags.get("is_simulated", pd.Series(dtype=object)).items() if _to_bool(v) is True}
        included = set(people.loc[~people["excluded"] & ~people["is_pilot"], "participant"])
        out["simulated"] = {"participants": len(simulated), "included": len(simulated & included)}
    if plan is not None:
        tpp = trials_per_participant or (int(main.groupby("participant").size().median()) if len(main) else 1)
        out["power"] = participants_for_two_proportions(
            plan[0], plan[1], alpha=alpha, power=power, trials_per_participant=tpp
        )
    return _clean(out)


# --- text ------------------------------------------------------------------------------------
def _fmt(value, digits=3):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if value != 0 and abs(value) < 0.001:
            return f"{value:.2e}"
        return f"{value:.{digits}f}"
    return str(value)


def design_aware_text(methods: Mapping) -> str:
    """The design-aware lines of the class-discrimination table (empty for results that lack them)."""
    rows = {name: m for name, m in methods.items() if "mixed_effects" in m}
    if not rows:
        return ""
    out = io.StringIO()
    w = out.write
    w("\n  Respecting the design (answers nested in participants and images)\n")
    w(
        f"  {'method':<24}{'typical':>8}  {'95% CI (mixed model)':<22}{'95% CI (bootstrap, ppl)':<25}"
        f"{'p vs chance (t, ppl)':>20}\n"
    )
    sds = None
    for name, m in rows.items():
        me = m["mixed_effects"]
        if "error" in me:
            model = f"{'n/a':>8}  {'(' + me['error'] + ')':<22}"
        else:
            model = f"{_fmt(me['accuracy']):>8}  {'[' + _fmt(me['ci_low']) + ', ' + _fmt(me['ci_high']) + ']':<22}"
            sds = sds or (me.get("sd_participant"), me.get("sd_image"))
        boot = f"[{_fmt(m.get('bootstrap_ci_low'))}, {_fmt(m.get('bootstrap_ci_high'))}]"
        w(f"  {name:<24}{model}{boot:<25}{_fmt(m.get('p_vs_chance_participants')):>20}\n")
    if sds:
        w(
            "  typical = accuracy of a typical participant on a typical image (logistic model, crossed random\n"
            f"  intercepts); random-effect SD (logit scale): participant {_fmt(sds[0])}, image {_fmt(sds[1])}\n"
        )
    return out.getvalue()


def text_report(result: Mapping, title: str = "") -> str:
    """A readable plain-text rendering of `report()`'s result."""
    out = io.StringIO()
    w = out.write
    if title:
        w(f"{title}\n{'=' * len(title)}\n")
    w(f"Kind: {result['kind']}   design: {result['design']}\n\n")
    ex = result["exclusions"]
    w("Exclusions (declared rules, applied before any statistic)\n")
    if ex["rules"] is not None:
        w(
            f"  rules: more than {ex['rules']['max_failed_attention_checks']} failed attention check(s); "
            f"median main-trial RT below {ex['rules']['min_median_rt_ms']} ms\n"
        )
    else:
        w("  rules: as recorded in the export's `excluded` column\n")
    w(f"  participants (non-pilot): {ex['participants']}, excluded: {ex['excluded']}, included: {ex['included']}\n")
    for reason, count in ex["by_reason"].items():
        w(f"    {reason}: {count}\n")
    w(f"  pilot participants (reported separately): {ex['pilot_participants']}\n")
    w(f"  responses: {ex['responses']}, analyzed (main trials, included): {ex['responses_analyzed']}\n")
    if "simulated" in result:
        w(
            f"  simulated participants: {result['simulated']['participants']} "
            f"({result['simulated']['included']} included in the analysis)\n"
        )
    w("\n")
    if kind_of(result["kind"]).human_measure() == "mean_rating":
        w("Trust: score toward the stronger network (+2 clearly more reliable ... -2)\n")
        w(f"  {'method':<24}{'n':>6}{'mean':>8}  {'95% CI (bootstrap)':<20}{'p vs 0':>10}   -2/-1/0/+1/+2\n")
        for name, m in result["methods"].items():
            dist = "/".join(str(m["distribution"][k]) for k in ("-2", "-1", "0", "1", "2"))
            w(
                f"  {name:<24}{m['n']:>6}{_fmt(m['mean_rating'], 2):>8}  "
                f"[{_fmt(m['ci_low'], 2)}, {_fmt(m['ci_high'], 2)}]{'':<8}{_fmt(m['p_vs_zero']):>10}   {dist}\n"
            )
    else:
        w(f"{kind_of(result['kind']).label}: accuracy (main trials of included participants)\n")
        w(
            f"  {'method':<24}{'n':>6}{'acc':>8}  {'95% CI (Wilson)':<18}{'p vs chance':>12}{'ppl':>5}  mean (SD) per person\n"
        )
        for name, m in result["methods"].items():
            w(
                f"  {name:<24}{m['n']:>6}{_fmt(m['accuracy']):>8}  [{_fmt(m['ci_low'])}, {_fmt(m['ci_high'])}]"
                f"{'':<2}{_fmt(m['p_vs_chance']):>12}{m['participants']:>5}  "
                f"{_fmt(m['participant_accuracy_mean'])} ({_fmt(m['participant_accuracy_sd'])})\n"
            )
        w(design_aware_text(result["methods"]))
        w(utility_text(result["methods"]))
    w("\nPairwise comparisons (Holm-corrected)\n")
    if not result["comparisons"]:
        w("  (fewer than two methods)\n")
    for c in result["comparisons"]:
        effect = ""
        if "cohens_h" in c:
            effect = f"h={_fmt(c['cohens_h'])} OR={_fmt(c.get('odds_ratio'))}"
        elif "rank_biserial" in c:
            effect = f"r_rb={_fmt(c['rank_biserial'])}"
        w(
            f"  {c['a']} vs {c['b']}: {c.get('test')} diff={_fmt(c.get('difference'))} p={_fmt(c.get('p'))} "
            f"p_holm={_fmt(c.get('p_holm'))} {effect}{'  (' + c['error'] + ')' if c.get('error') else ''}\n"
        )
    pilot = result.get("pilot") or {}
    if pilot.get("participants"):
        w(
            f"\nPilot ({pilot['participants']} participants, {pilot['responses']} main responses; not in the analysis above)\n"
        )
        for name, m in pilot["methods"].items():
            value = m.get("accuracy", m.get("mean_rating"))
            w(f"  {name:<24} n={m['n']} {'accuracy' if 'accuracy' in m else 'mean'}={_fmt(value)}\n")
    if "power" in result:
        pw = result["power"]
        w(
            f"\nPower: {pw['p1']:.4f} vs {pw['p2']:.4f} (h={pw['cohens_h']:.3f}), alpha={pw['alpha']}, power={pw['power']}:\n"
            f"  {pw['observations_per_condition']} responses per condition, about {pw['participants_per_condition']} "
            f"participants\n  at {pw['trials_per_participant']} trials each (independent trials assumed)\n"
        )
    return out.getvalue()
