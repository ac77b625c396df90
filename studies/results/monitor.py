"""Live-monitor figures for a running study, computed with a handful of aggregate queries.

Per condition: participants started, completed, abandoned, still active, excluded (by the study's
declared rules, from the answers so far), the completion rate and the median duration of completed
participants. Per stimulus cell (a main trial of the bank: image x class x method): the number of
responses. And the last activity. Pilot participants are counted apart and left out of the
per-condition figures.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import timedelta

from django.db.models import Count, Max
from django.utils import timezone

from ..models import Participant, ParticipantStatus, Response, Study, Trial, TrialKind
from .export import condition_label, participant_figures


def _iso(dt):
    return dt.isoformat().replace("+00:00", "Z") if dt else None


def monitor_data(study: Study, now=None) -> dict:
    """JSON-ready figures for the monitor page (and its refreshing data endpoint)."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=study.inactivity_timeout_minutes)
    figures = participant_figures(study)
    conditions: dict[str, dict] = {}
    durations: dict[str, list[float]] = defaultdict(list)
    pilot = {"started": 0, "completed": 0}
    simulated = screened_out = 0
    apart = {ParticipantStatus.DECLINED: 0, ParticipantStatus.WITHDRAWN: 0}
    rows = (
        Participant.objects.filter(study=study)
        .values_list(
            "id",
            "condition",
            "latin_square_row",
            "status",
            "is_pilot",
            "is_simulated",
            "consented_at",
            "completed_at",
            "last_seen_at",
        )
        .order_by("id")
        .iterator(chunk_size=2000)
    )
    for pid, condition, latin_row, status, is_pilot, is_simulated, consented, completed, last_seen in rows:
        if status == ParticipantStatus.SCREENED_OUT:  # never in a condition: counted apart
            screened_out += not is_pilot
            continue
        if status in apart:  # declined (never in a condition) or withdrawn (gave its slot back): counted apart
            apart[status] += not is_pilot
            continue
        condition = condition_label(study, condition, latin_row)
        if is_pilot:
            pilot["started"] += 1
            pilot["completed"] += status == ParticipantStatus.COMPLETED
            continue
        simulated += bool(is_simulated)
        c = conditions.setdefault(
            condition or "(none)",
            {
                "condition": condition or "(none)",
                "started": 0,
                "completed": 0,
                "abandoned": 0,
                "active": 0,
                "excluded": 0,
                "included_completed": 0,
                "simulated": 0,
            },
        )
        c["started"] += 1
        c["simulated"] += bool(is_simulated)
        if status == ParticipantStatus.COMPLETED:
            c["completed"] += 1
            if completed and consented:
                durations[c["condition"]].append((completed - consented).total_seconds())
        elif status == ParticipantStatus.ABANDONED or (last_seen is not None and last_seen < cutoff):
            c["abandoned"] += 1
        else:
            c["active"] += 1
        f = figures.get(pid)
        if f is not None and f.excluded:
            c["excluded"] += 1
        elif status == ParticipantStatus.COMPLETED:
            c["included_completed"] += 1
    for name, c in conditions.items():
        c["completion_rate"] = c["completed"] / c["started"] if c["started"] else None
        c["median_duration_s"] = statistics.median(durations[name]) if durations[name] else None
        c["target"] = study.target_participants_per_condition
    ordered = sorted(conditions.values(), key=lambda c: (_method_rank(study, c["condition"]), c["condition"]))

    counts = dict(
        Response.objects.filter(assignment__trial__study=study, assignment__participant__is_pilot=False)
        .values("assignment__trial_id")
        .annotate(n=Count("id"))
        .values_list("assignment__trial_id", "n")
    )
    cells = []
    for trial_id, index, method, target, filename in (
        Trial.objects.filter(study=study, kind=TrialKind.MAIN)
        .order_by("index")
        .values_list("id", "index", "method", "target_class", "image__filename")
    ):
        cells.append(
            {
                "trial": index,
                "method": method,
                "target_class": target,
                "image": filename,
                "responses": counts.get(trial_id, 0),
            }
        )
    per_method = {}
    for cell in cells:
        per_method.setdefault(cell["method"], []).append(cell["responses"])
    cell_summary = {
        method: {
            "cells": len(v),
            "min": min(v),
            "median": statistics.median(v),
            "max": max(v),
            "without_responses": sum(1 for x in v if x == 0),
        }
        for method, v in per_method.items()
    }

    last_seen = Participant.objects.filter(study=study).aggregate(m=Max("last_seen_at"))["m"]
    last_answer = Response.objects.filter(assignment__participant__study=study).aggregate(m=Max("answered_at"))["m"]
    last = max([d for d in (last_seen, last_answer) if d is not None], default=None)
    totals = {k: sum(c[k] for c in ordered) for k in ("started", "completed", "abandoned", "active", "excluded")}
    totals["completion_rate"] = totals["completed"] / totals["started"] if totals["started"] else None
    all_durations = [d for v in durations.values() for d in v]
    totals["median_duration_s"] = statistics.median(all_durations) if all_durations else None
    return {
        "study": study.slug,
        "status": study.status,
        "generated_at": _iso(now),
        "conditions": ordered,
        "totals": totals,
        "pilot": pilot,
        "simulated": simulated,
        "screened_out": screened_out,
        "declined": apart[ParticipantStatus.DECLINED],
        "withdrawn": apart[ParticipantStatus.WITHDRAWN],
        "responses": sum(counts.values()),
        "cells": cells,
        "cell_summary": cell_summary,
        "last_activity": _iso(last),
        "last_activity_seconds_ago": (now - last).total_seconds() if last else None,
    }


def _method_rank(study: Study, condition: str) -> int:
    methods = study.arms
    return methods.index(condition) if condition in methods else len(methods)
