"""Result plots drawn with matplotlib's Agg backend, returned as PNG or SVG bytes.

Every plot takes the report of `studies.results.analysis.report()` (and, for response times, the responses
DataFrame), so the figures show exactly the numbers of the report.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..kinds import DEFAULT_KIND, kind_of  # noqa: E402

FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
TRUST_COLORS = {"-2": "#b2182b", "-1": "#ef8a62", "0": "#d9d9d9", "1": "#67a9cf", "2": "#2166ac"}
TRUST_LABELS = {
    "-2": "weaker clearly",
    "-1": "weaker slightly",
    "0": "equal",
    "1": "stronger slightly",
    "2": "stronger clearly",
}


def plot_names(kind: str) -> list[str]:
    return kind_of(kind).plot_names()


def _bytes(fig: Figure, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, bbox_inches="tight", dpi=120, metadata={"Date": None} if fmt == "svg" else None)
    plt.close(fig)
    return buffer.getvalue()


def _empty(ax, text="no data yet"):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666")


def accuracy_plot(result: dict, fmt: str = "png") -> bytes:
    """Accuracy per method with Wilson 95% interval bars and the chance level."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    names = [m for m, v in result["methods"].items() if v.get("accuracy") is not None]
    if not names:
        _empty(ax)
    else:
        acc = [result["methods"][m]["accuracy"] for m in names]
        low = [a - result["methods"][m]["ci_low"] for m, a in zip(names, acc, strict=True)]
        high = [result["methods"][m]["ci_high"] - a for m, a in zip(names, acc, strict=True)]
        ax.bar(names, acc, color="#4c72b0", yerr=[low, high], capsize=6)
        for i, m in enumerate(names):
            ax.text(i, 0.02, f"n={result['methods'][m]['n']}", ha="center", color="white", fontsize=8)
        chance = result["methods"][names[0]].get("chance") or 0.5
        ax.axhline(chance, ls="--", color="#888", lw=1, label=f"chance ({chance:.2f})")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (95% Wilson CI)")
    ax.set_title("Class discrimination: accuracy per method")
    ax.tick_params(axis="x", labelrotation=15)
    return _bytes(fig, fmt)


def trust_answers_plot(result: dict, fmt: str = "png") -> bytes:
    """The five answers (scored toward the stronger network) as stacked proportions per method."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    names = [m for m, v in result["methods"].items() if v.get("n")]
    if not names:
        _empty(ax)
    else:
        left = [0.0] * len(names)
        for key in ("-2", "-1", "0", "1", "2"):
            values = [result["methods"][m]["proportions"][key] or 0.0 for m in names]
            ax.barh(names, values, left=left, color=TRUST_COLORS[key], label=TRUST_LABELS[key])
            left = [a + b for a, b in zip(left, values, strict=True)]
        ax.set_xlim(0, 1)
        ax.legend(ncol=5, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), title="more reliable")
    ax.set_xlabel("proportion of answers")
    ax.set_title("Trust: answers per method")
    return _bytes(fig, fmt)


def trust_mean_plot(result: dict, fmt: str = "png") -> bytes:
    """Mean score toward the stronger network with bootstrap 95% intervals."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    names = [m for m, v in result["methods"].items() if v.get("mean_rating") is not None]
    if not names:
        _empty(ax)
    else:
        mean = [result["methods"][m]["mean_rating"] for m in names]
        low = [a - result["methods"][m]["ci_low"] for m, a in zip(names, mean, strict=True)]
        high = [result["methods"][m]["ci_high"] - a for m, a in zip(names, mean, strict=True)]
        ax.bar(names, mean, color="#2166ac", yerr=[low, high], capsize=6)
        ax.axhline(0, color="#888", lw=1)
    ax.set_ylim(-2, 2)
    ax.set_ylabel("score toward stronger (95% bootstrap CI)")
    ax.set_title("Trust: mean score per method")
    return _bytes(fig, fmt)


def accuracy_by_round_plot(result: dict, fmt: str = "png") -> bytes:
    """Test accuracy per round, one line per arm (the learning curve of a kind with rounds)."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    curves = {m: v["by_round"] for m, v in result["methods"].items() if v.get("by_round")}
    if not curves:
        _empty(ax)
    else:
        for name, by_round in curves.items():
            rounds = sorted(by_round, key=int)
            ax.plot([int(r) for r in rounds], [by_round[r] for r in rounds], marker="o", label=name)
        ax.set_xticks(sorted({int(r) for c in curves.values() for r in c}))
        ax.legend(loc="lower right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_xlabel("round")
    ax.set_ylabel("test accuracy")
    ax.set_title("Test accuracy per round and arm")
    return _bytes(fig, fmt)


def rt_plot(result: dict, df, fmt: str = "png") -> bytes:
    """Response times of analyzed main trials per method (box plots over the individual answers)."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    data, names = [], []
    if df is not None and len(df):
        excluded = set(result["exclusions"].get("excluded_participants") or [])
        main = df[
            (df["trial_kind"] == "main")
            & ~df["participant"].isin(excluded)
            & ~df["is_pilot"].fillna(False).astype(bool)
        ]
        for method in result["methods"]:
            values = main.loc[main["method"] == method, "rt_ms"].dropna().astype(float) / 1000.0
            if len(values):
                data.append(values.to_numpy())
                names.append(method)
    if not data:
        _empty(ax)
    else:
        ax.boxplot(data, tick_labels=names, showfliers=True)
        ax.set_yscale("log")
    ax.set_ylabel("response time (s, log scale)")
    ax.set_title("Response times of main trials")
    ax.tick_params(axis="x", labelrotation=15)
    return _bytes(fig, fmt)


def render(name: str, result: dict, df=None, fmt: str = "png") -> bytes:
    """Draw plot `name` (see plot_names) in `fmt` (png or svg)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    if name not in plot_names(result.get("kind") or DEFAULT_KIND):
        raise KeyError(name)
    if name == "accuracy":
        return accuracy_plot(result, fmt)
    if name == "trust_answers":
        return trust_answers_plot(result, fmt)
    if name == "trust_mean":
        return trust_mean_plot(result, fmt)
    if name == "accuracy_by_round":
        return accuracy_by_round_plot(result, fmt)
    return rt_plot(result, df, fmt)
