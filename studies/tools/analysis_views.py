"""Staff pages of a model's failure modes and bias summary on an image set (thin views over failures.py)."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from ..models import AnalysisKind, ClassifierModel, ImageSet, JobStatus
from . import failures
from .explorer_views import EXPLORE_TIMEOUT_S

CSV_NAMES = {AnalysisKind.FAILURES: failures.failures_csv, AnalysisKind.BIAS: failures.bias_csv}


def _analysis_page(request, model_id: int, kind: str):
    model = get_object_or_404(ClassifierModel, pk=model_id)
    image_sets = ImageSet.objects.order_by("name")
    context = {"model": model, "image_sets": image_sets, "kind": kind, "title": f"{model.name}: {kind}"}
    raw = request.GET.get("image_set", "")
    if not raw:
        return render(request, "admin/studies/model_analysis.html", context)
    image_set = ImageSet.objects.filter(pk=raw).first() if raw.isdigit() else None
    if image_set is None:
        context["error"] = "no such image set"
        return render(request, "admin/studies/model_analysis.html", context, status=400)
    analysis = failures.request(kind, model, image_set, wait=EXPLORE_TIMEOUT_S)
    context.update(image_set=image_set, analysis=analysis)
    if analysis.status == JobStatus.DONE and request.GET.get("format") == "csv":
        response = HttpResponse(CSV_NAMES[kind](analysis), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{kind}-{model.pk}-{image_set.pk}.csv"'
        return response
    if analysis.status == JobStatus.DONE and kind == AnalysisKind.FAILURES:
        true_class, predicted = request.GET.get("true", ""), request.GET.get("predicted", "")
        context["wrong"] = [
            w
            for w in analysis.results["wrong"]
            if (not true_class or w["true"] == true_class) and (not predicted or w["predicted"] == predicted)
        ]
        context["filters"] = {"true": true_class, "predicted": predicted}
        matrix = analysis.results["confusion"]["matrix"]
        context["confusion"] = list(zip(analysis.results["confusion"]["classes"], matrix))
    return render(request, "admin/studies/model_analysis.html", context)


@staff_member_required
@require_GET
def model_failures(request, model_id: int):
    return _analysis_page(request, model_id, AnalysisKind.FAILURES)


@staff_member_required
@require_GET
def model_bias(request, model_id: int):
    return _analysis_page(request, model_id, AnalysisKind.BIAS)
