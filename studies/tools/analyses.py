"""Computed views of a model on an image set: dissection, textual explanations, failure modes, bias.

Each kind is a function `compute(analysis, bundle, get_bundle) -> results` in its own module
(studies/stimuli/textual.py, studies/tools/failures.py), named in COMPUTE. This module owns what they share:
the content key that caches a result (every input and version hashed, as stimuli are), the request
that creates the row and hands it to the `gpu` queue (in-process in the eager default), the run on
the worker that stores results or the failure's reason, and the provenance.
"""

from __future__ import annotations

import hashlib
import json
import time

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from ..models import AnalysisKind, ClassifierModel, ImageSet, JobStatus, ModelAnalysis

COMPUTE = {
    AnalysisKind.DISSECTION: "studies.stimuli.textual.compute_dissection",
    AnalysisKind.TEXTUAL: "studies.stimuli.textual.compute_textual",
    AnalysisKind.FAILURES: "studies.tools.failures.compute_failures",
    AnalysisKind.BIAS: "studies.tools.failures.compute_bias",
}
# Bumped when a compute function's results change for the same inputs.
ANALYSIS_VERSIONS = {"dissection": "1", "textual": "1", "failures": "1", "bias": "1"}
DEFAULT_WAIT_S = 600


class AnalysisError(Exception):
    """A request for an analysis is refused; the message says why."""


def image_set_digest(image_set: ImageSet) -> str:
    """sha256 of the set's images and annotations (what every analysis reads of it)."""
    h = hashlib.sha256()
    for sha, labels, boxes in image_set.images.order_by("id").values_list("sha256", "labels", "boxes"):
        h.update(json.dumps([sha, labels, boxes], sort_keys=True, separators=(",", ":")).encode())
    return h.hexdigest()


def analysis_key(kind: str, model: ClassifierModel, image_set: ImageSet, layer: str, parameters: dict) -> str:
    from explain_engine import ENGINE_VERSION

    parts = {
        "kind": kind,
        "version": ANALYSIS_VERSIONS[kind],
        "engine": ENGINE_VERSION,
        "arch": model.arch,
        "weights": model.weights_sha256,
        "weights_name": model.weights_name,
        "categories": model.categories,
        "target_layer": model.target_layer,
        "display": getattr(model, "display", ""),
        "layer": layer,
        "images": image_set_digest(image_set),
        "parameters": parameters,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def default_layer(model: ClassifierModel, bundle=None) -> str:
    return model.target_layer or (bundle.target_layer if bundle is not None else "")


def find_or_create(kind: str, model: ClassifierModel, image_set: ImageSet, layer: str = "", parameters=None):
    """The analysis row for these inputs (created pending if new) and whether it was created."""
    if kind not in COMPUTE:
        raise AnalysisError(f"unknown analysis {kind!r}")
    parameters = dict(parameters or {})
    key = analysis_key(kind, model, image_set, layer, parameters)
    row = ModelAnalysis.objects.filter(content_key=key).first()
    if row is not None:
        return row, False
    try:
        with transaction.atomic():
            return (
                ModelAnalysis.objects.create(
                    kind=kind, model=model, image_set=image_set, layer=layer, content_key=key, parameters=parameters
                ),
                True,
            )
    except IntegrityError:  # a concurrent request made it first: same inputs, same row
        return ModelAnalysis.objects.get(content_key=key), False


def do_request_analysis(
    kind: str,
    model: ClassifierModel,
    image_set: ImageSet,
    layer: str = "",
    parameters=None,
    *,
    wait: float | None = None,
    retry_failed: bool = False,
) -> ModelAnalysis:
    """The cached analysis, or a new one handed to the `gpu` queue. With `wait`, wait that long for it
    (in the eager default the task has run by then)."""
    row, created = find_or_create(kind, model, image_set, layer, parameters)
    if row.status == JobStatus.FAILED and retry_failed:
        created = ModelAnalysis.objects.filter(pk=row.pk, status=JobStatus.FAILED).update(
            status=JobStatus.PENDING, error=""
        )
    if created:
        from ..tasks import gpu_model_analysis

        gpu_model_analysis.delay(row.pk)
    deadline = time.monotonic() + (wait or 0)
    row.refresh_from_db()
    while row.status in (JobStatus.PENDING, JobStatus.RUNNING) and time.monotonic() < deadline:
        time.sleep(0.2)
        row.refresh_from_db()
    return row


def provenance(analysis: ModelAnalysis, bundle, device: str) -> dict:
    import torch

    from explain_engine import ENGINE_VERSION

    model = analysis.model
    return {
        "content_key": analysis.content_key,
        "kind": analysis.kind,
        "analysis_version": ANALYSIS_VERSIONS[analysis.kind],
        "model": {
            "name": model.name,
            "arch": model.arch,
            "weights_name": model.weights_name,
            "weights_sha256": model.weights_sha256,
            "layer": analysis.layer or default_layer(model, bundle),
        },
        "image_set": {
            "name": analysis.image_set.name,
            "images": analysis.image_set.images.count(),
            "digest": image_set_digest(analysis.image_set),
        },
        "parameters": analysis.parameters,
        "engine_version": ENGINE_VERSION,
        "torch": torch.__version__,
        "device": device,
        "computed_at": timezone.now().isoformat(),
    }


def do_run_analysis(analysis_id: int, get_bundle, device: str = "cpu") -> ModelAnalysis:
    """Compute a pending analysis (the Celery task's body); a failure is stored with its reason."""
    analysis = ModelAnalysis.objects.select_related("model", "image_set").get(pk=analysis_id)
    if analysis.status == JobStatus.DONE:
        return analysis
    ModelAnalysis.objects.filter(pk=analysis.pk).update(status=JobStatus.RUNNING)
    try:
        bundle = get_bundle(analysis.model)
        results = import_string(COMPUTE[analysis.kind])(analysis, bundle, get_bundle)
        prov = provenance(analysis, bundle, device)
    except Exception as exc:  # noqa: BLE001 - shown on the page; the row can be retried
        analysis.status, analysis.error = JobStatus.FAILED, f"{type(exc).__name__}: {exc}"[:4000]
        analysis.finished_at = timezone.now()
        analysis.save(update_fields=["status", "error", "finished_at"])
        return analysis
    analysis.results, analysis.provenance = results, prov
    analysis.status, analysis.error, analysis.finished_at = JobStatus.DONE, "", timezone.now()
    analysis.save(update_fields=["results", "provenance", "status", "error", "finished_at"])
    return analysis


def image_batches(images, bundle, batch: int = 32):
    """Groups of (image, tensor, pil) with one tensor shape (generation's batching)."""
    from ..stimuli.generation import _shape_batches

    return _shape_batches(images, bundle, batch)
