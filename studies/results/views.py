"""Staff pages for results: live monitor, report with plots, and the CSV downloads.

Thin views over studies.results.monitor, studies.results.analysis, studies.results.plots and studies.results.export. Every view is
staff only (staff_member_required: anonymous users and non-staff accounts go to the admin login).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from .. import audit
from ..kinds import kind_of
from ..models import Study
from . import analysis, export, plots, prolific
from .reports import study_analysis


def _context(request, study: Study, title: str, **extra):
    return {
        **admin.site.each_context(request),
        "study": study,
        "title": title,
        "opts": Study._meta,
        **extra,
    }


def _csv_response(chunks, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@staff_member_required
@never_cache
def study_monitor(request, study_id: int):
    study = get_object_or_404(Study, pk=study_id)
    return render(
        request,
        "results/monitor.html",
        _context(
            request,
            study,
            f"Live monitor: {study.name}",
            data_url=reverse("studies:study-monitor-data", kwargs={"study_id": study.pk}),
            refresh_seconds=10,
        ),
    )


@staff_member_required
@never_cache
def study_monitor_data(request, study_id: int):
    from .monitor import monitor_data

    study = get_object_or_404(Study, pk=study_id)
    return JsonResponse(monitor_data(study))


SANITY_PLOT = {"width": 240, "height": 120, "pad": 6}
SANITY_CURVES = (
    ("spearman", "Spearman", "#1f77b4"),
    ("ssim", "SSIM", "#d62728"),
    ("smooth_spearman", "Smooth-MPRT Spearman", "#2ca02c"),
)


def _polyline(values: list, plot: dict) -> str:
    """SVG points of a curve over [-1, 1] drawn left (top layer randomized) to right (all of them)."""
    w, h, pad = plot["width"], plot["height"], plot["pad"]
    step = (w - 2 * pad) / max(1, len(values) - 1)
    return " ".join(
        f"{pad + i * step:.1f},{pad + (1 - v) / 2 * (h - 2 * pad):.1f}" for i, v in enumerate(values) if v is not None
    )


def sanity_plots(results: dict) -> list[dict]:
    """One small plot per (model, method): the MPRT similarities after each randomization step."""
    from .faithfulness import model_label

    plots = []
    for role, methods in results.get("sanity", {}).items():
        for method, values in methods.items():
            curves = [
                {"key": key, "label": label, "colour": colour, "points": _polyline(values.get(key) or [], SANITY_PLOT)}
                for key, label, colour in SANITY_CURVES
            ]
            plots.append(
                {
                    "role": model_label(results, role),
                    "method": method,
                    "curves": curves,
                    "layers": values["layers"],
                    "final_spearman": (values.get("spearman") or [None])[-1],
                    "final_ssim": (values.get("ssim") or [None])[-1],
                    "random_logit": values.get("random_logit"),
                }
            )
    return plots


def faithfulness_context(study: Study, result: dict) -> dict:
    from .faithfulness import METRIC_LABELS, human_scores, latest_report, metrics_beside_human, model_label

    report = latest_report(study)
    rows = []
    if report is not None:
        rows = [
            {**row, "role": model_label(report.results, row["role"])}
            for row in metrics_beside_human(report, human_scores(result))
        ]
    return {
        "faithfulness": report,
        "faithfulness_rows": rows,
        "sanity_plots": sanity_plots(report.results) if report is not None else [],
        "sanity_plot": SANITY_PLOT,
        "metric_vs_human": [
            {"metric": metric, "label": METRIC_LABELS[metric], **values}
            for metric, values in result.get("metric_vs_human", {}).items()
        ],
        "faithfulness_pending": study.faithfulness_reports.filter(status__in=["pending", "running"]).exists(),
        "faithfulness_url": reverse("studies:study-faithfulness-run", kwargs={"study_id": study.pk}),
    }


@staff_member_required
@require_POST
def study_faithfulness_run(request, study_id: int):
    from .faithfulness import do_request_report

    study = get_object_or_404(Study, pk=study_id)
    do_request_report(study)
    return redirect("studies:study-results", study_id=study.pk)


@staff_member_required
@never_cache
def study_results(request, study_id: int):
    study = get_object_or_404(Study, pk=study_id)
    result, _ = study_analysis(study)
    names = plots.plot_names(result["kind"])
    plot_links = [
        {
            "name": n,
            **{
                fmt: reverse("studies:study-plot", kwargs={"study_id": study.pk, "name": n, "fmt": fmt})
                for fmt in plots.FORMATS
            },
        }
        for n in names
    ]
    exports = {
        name: reverse(f"studies:export-{name}", kwargs={"study_id": study.pk})
        for name in ("responses", "participants", "stimuli", "prolific-bonuses")
    }
    exports["prolific_bonuses"] = exports.pop("prolific-bonuses")
    exports["prolific_submissions"] = reverse("studies:prolific-submissions", kwargs={"study_id": study.pk})
    return render(
        request,
        "results/results.html",
        _context(
            request,
            study,
            f"Results: {study.name}",
            result=result,
            measure=kind_of(result["kind"]).human_measure(),
            text=analysis.text_report(result, study.name),
            plots=plot_links,
            exports=exports,
            monitor_url=reverse("studies:study-monitor", kwargs={"study_id": study.pk}),
            methods=[{"name": k, **v} for k, v in result["methods"].items()],
            utilities=[{"name": k, **v} for k, v in result["methods"].items() if "utility" in v],
            **faithfulness_context(study, result),
            generated_at=timezone.now(),
        ),
    )


@staff_member_required
@never_cache
def study_plot(request, study_id: int, name: str, fmt: str):
    study = get_object_or_404(Study, pk=study_id)
    if fmt not in plots.FORMATS:
        raise Http404("unknown format")
    result, df = study_analysis(study)
    if name not in plots.plot_names(result["kind"]):
        raise Http404("unknown plot")
    response = HttpResponse(plots.render(name, result, df, fmt), content_type=plots.FORMATS[fmt])
    disposition = "attachment" if request.GET.get("download") else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{study.slug}-{name}.{fmt}"'
    return response


@staff_member_required
def export_responses(request, study_id: int):
    study = get_object_or_404(Study, pk=study_id)
    audit.do_record_export(request.user, study, "responses", via=audit.VIA_STAFF_PAGE)
    return _csv_response(export.export_responses(study), f"{study.slug}-responses.csv")


@staff_member_required
def export_participants(request, study_id: int):
    """Participants; the external ids appear in clear only with ?external_ids=1 (an explicit request)."""
    study = get_object_or_404(Study, pk=study_id)
    include = request.GET.get("external_ids") == "1"
    audit.do_record_export(request.user, study, "participants", via=audit.VIA_STAFF_PAGE, external_ids=include)
    return _csv_response(
        export.export_participants(study, include_external_ids=include),
        f"{study.slug}-participants{'-with-external-ids' if include else ''}.csv",
    )


@staff_member_required
def export_prolific_bonuses(request, study_id: int):
    """Prolific's bulk bonus list (ids in clear: logged as such)."""
    study = get_object_or_404(Study, pk=study_id)
    bonuses = prolific.prolific_bonuses(study)
    audit.do_record_export(request.user, study, "Prolific bonuses", via=audit.VIA_STAFF_PAGE, external_ids=True)
    response = HttpResponse(bonuses.text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{study.slug}-prolific-bonuses.csv"'
    response["Cache-Control"] = "no-store"
    response["X-Bonuses-Unreadable-Ids"] = str(bonuses.unreadable)
    return response


@staff_member_required
@never_cache
def prolific_submissions(request, study_id: int):
    """Upload Prolific's submissions CSV, get each row's outcome (works with ids kept only as a hash)."""
    study = get_object_or_404(Study, pk=study_id)
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("submissions")
        if upload is None:
            error = "Choose the submissions CSV that Prolific exports."
        elif upload.size > prolific.MAX_UPLOAD_BYTES:
            error = f"The file is larger than {prolific.MAX_UPLOAD_BYTES // (1024 * 1024)} MB."
        else:
            try:
                rows = prolific.submission_outcomes(study, upload.read())
            except prolific.SubmissionsError as exc:
                error = str(exc)
            else:
                audit.do_record_export(request.user, study, "Prolific submission outcomes", via=audit.VIA_STAFF_PAGE)
                return _csv_response(
                    export.csv_lines(prolific.SUBMISSION_COLUMNS, rows), f"{study.slug}-submission-outcomes.csv"
                )
    context = _context(request, study, f"Prolific submissions: {study.name}", error=error)
    return render(request, "results/prolific_submissions.html", context, status=400 if error else 200)


@staff_member_required
def export_stimuli(request, study_id: int):
    study = get_object_or_404(Study, pk=study_id)
    audit.do_record_export(request.user, study, "stimuli", via=audit.VIA_STAFF_PAGE)
    return _csv_response(export.export_stimuli(study), f"{study.slug}-stimuli.csv")
