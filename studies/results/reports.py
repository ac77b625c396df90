"""A study's analysis report from the database, cached while its responses do not change."""

from __future__ import annotations

from django.core.cache import cache
from django.db.models import Count, Max

from ..kinds import kind_of
from ..models import Response, Study
from ..stimuli import bank
from . import analysis, export

PLANNED_COMPARISON = (0.6123, 0.4444)  # the paper's Guided Grad-CAM vs Guided Backprop accuracies
CACHE_SECONDS = 60


def study_analysis(study: Study):
    """(report dict, responses DataFrame) of a study, cached while its responses do not change."""
    from .faithfulness import latest_report, study_metric_vs_human, study_metrics_beside_human

    # A withdrawal under the "exclude" policy changes no response but takes a participant out.
    state = Response.objects.filter(assignment__participant__study=study).aggregate(
        n=Count("id"), last=Max("id"), withdrawn=Max("assignment__participant__withdrawn_at")
    )
    report = latest_report(study)
    withdrawn = state["withdrawn"].timestamp() if state["withdrawn"] else 0
    key = (
        f"results:{study.pk}:{state['n']}:{state['last']}:{withdrawn}:{study.updated_at.timestamp()}:"
        f"{report.pk if report else 0}"
    )
    cached = cache.get(key)
    if cached is not None:
        return cached
    df = export.responses_frame(study)
    result = analysis.report(
        df,
        kind=study.kind,
        design=study.design,
        methods=study.arms,
        rules=export.rules_for(study),
        seed=study.seed,
        plan=PLANNED_COMPARISON if kind_of(study).binary_outcome else None,
        trials_per_participant=bank.trials_available(study) or study.trials_per_participant,
    )
    # The automatic metrics against this human outcome, across methods (empty without a report).
    result["metric_vs_human"] = study_metric_vs_human(study, result)
    result["metrics_beside_human"] = study_metrics_beside_human(study, result)
    cache.set(key, (result, df), CACHE_SECONDS)
    return result, df
