"""The paper's automatic evaluations of a study's methods, beside the human results.

For each model of the study and each (image, class) of its main trials, on the very raw maps the
participants' stimuli were rendered from: pointing game, localization IoU (box around the largest
region above 15% of the maximum), Spearman correlation with an occlusion map (the paper's
faithfulness), and RISE's deletion and insertion AUC. Averaged per method (and per model for trust
studies). The metrics themselves live in explain_engine.metrics; this module feeds them.
"""

from __future__ import annotations

import io
import math
import random
from collections import defaultdict

import numpy as np
from django.utils import timezone

from explain_engine.geometry import WHOLE

from . import design, media_cache
from .geometry import stimulus_geometry
from .models import FaithfulnessReport, JobStatus, Study, StudyKind, Trial, TrialKind

DEFAULT_MAX_IMAGES = 40
METRICS = ("pointing_game", "localization_iou", "occlusion_rho", "deletion_auc", "insertion_auc")
METRIC_LABELS = {
    "pointing_game": "Pointing game (hit rate)",
    "localization_iou": "Localization IoU (15% rule)",
    "occlusion_rho": "Rank correlation with occlusion",
    "deletion_auc": "Deletion AUC (lower is better)",
    "insertion_auc": "Insertion AUC (higher is better)",
}


def saliency_2d(raw: np.ndarray) -> np.ndarray:
    """A (H, W) map: CAM maps as they are; gradient maps (3, H, W) by their absolute sum over channels."""
    raw = np.asarray(raw, dtype=np.float64)
    return np.abs(raw).sum(axis=0) if raw.ndim == 3 else raw


def scale_boxes(
    boxes, image_size: tuple[int, int], map_shape: tuple[int, int], geometry=WHOLE
) -> list[tuple[int, int, int, int]]:
    """Ground-truth boxes from image pixels to map pixels, through the geometry the map was made with
    (a center crop cuts boxes, or drops those it does not show)."""
    return geometry.boxes_on_grid(boxes, image_size, map_shape)


def model_label(results: dict, role: str) -> str:
    """The model's name for a row of the report (its role too, in trust studies)."""
    name = (results.get("models") or {}).get(role)
    if not name:
        return role
    return name if role == "model" else f"{name} ({role})"


def evaluate_maps(
    model, x, target_index: int, saliencies: dict, boxes, *, patch: int, stride: int, score: str, step: int
) -> dict:
    """Every metric for every method's map of one (image, class), sharing one occlusion map."""
    from explain_engine import metrics

    occlusion = metrics.occlusion_map(model, x, target_index, patch=patch, stride=stride, score="logit")
    results = {}
    for method, sal in saliencies.items():
        results[method] = {
            "pointing_game": float(metrics.pointing_game(sal, np.asarray(boxes))),
            "localization_iou": float(metrics.localization_iou(sal, boxes)),
            "occlusion_rho": float(metrics.occlusion_faithfulness(sal, occlusion)),
            "deletion_auc": float(metrics.deletion_auc(model, x, target_index, sal, step=step, score=score)),
            "insertion_auc": float(metrics.insertion_auc(model, x, target_index, sal, step=step, score=score)),
        }
    return results


def _load_raw(stimulus) -> np.ndarray | None:
    if not stimulus or not stimulus.raw_map:
        return None
    with stimulus.raw_map.open("rb") as fh:
        return np.load(io.BytesIO(fh.read()), allow_pickle=False)


def study_units(study: Study, max_images: int | None, seed: int) -> list[tuple]:
    """(image, target class, {method: stimulus}, model role) for the study's main trials, seeded subset."""
    trials = (
        Trial.objects.filter(study=study, kind=TrialKind.MAIN)
        .select_related("image", "stimulus", "stimulus_weaker")
        .order_by("index")
    )
    grouped: dict[tuple[int, str], dict] = defaultdict(lambda: {"image": None, "stronger": {}, "weaker": {}})
    for trial in trials:
        entry = grouped[(trial.image_id, trial.target_class)]
        entry["image"] = trial.image
        entry["stronger"][trial.method] = trial.stimulus
        if trial.stimulus_weaker is not None:
            entry["weaker"][trial.method] = trial.stimulus_weaker
    keys = sorted(grouped)
    if max_images is not None and len(keys) > max_images:
        keys = sorted(random.Random(design.derive_seed(seed, "faithfulness")).sample(keys, max_images))
    units = []
    for key in keys:
        entry = grouped[key]
        units.append(
            (entry["image"], key[1], entry["stronger"], "stronger" if study.kind == StudyKind.TRUST else "model")
        )
        if entry["weaker"]:
            units.append((entry["image"], key[1], entry["weaker"], "weaker"))
    return units


def _summarize(rows: list[dict]) -> dict:
    out: dict = {}
    for (role, method), group in _group(rows).items():
        summary = {"n": len(group)}
        for metric in METRICS:
            values = [r[metric] for r in group if r[metric] is not None and not math.isnan(r[metric])]
            summary[metric] = float(np.mean(values)) if values else None
        out.setdefault(role, {})[method] = summary
    return out


def _group(rows):
    groups = defaultdict(list)
    for row in rows:
        groups[(row["model_role"], row["method"])].append(row)
    return groups


def do_faithfulness(
    study: Study,
    get_bundle,
    *,
    max_images: int | None = DEFAULT_MAX_IMAGES,
    patch: int | None = None,
    stride: int | None = None,
    progress=None,
) -> dict:
    """Compute the report's numbers for a study whose stimuli exist. Returns the results JSON."""

    models = {"model": study.model, "stronger": study.stronger_model, "weaker": study.weaker_model}
    units = study_units(study, max_images, study.seed)
    rows: list[dict] = []
    parameters: dict = {"max_images": max_images, "seed": study.seed}
    for n, (image, target, stimuli, role) in enumerate(units, 1):
        model_row = models[role]
        bundle = get_bundle(model_row)
        pil = media_cache.photograph_rgb(image)
        x = bundle.preprocess(pil)
        device = next(bundle.module.parameters()).device
        x = x.to(device)
        h, w = x.shape[-2:]
        this_patch = patch or max(4, h // 8)
        this_stride = stride or max(2, this_patch // 2)
        step = max(1, (h * w) // 64)
        # Multi-label demo networks score each class with its own sigmoid; others with a softmax.
        score = "sigmoid" if bundle.arch.startswith("shapes_") else "softmax"
        parameters.update(patch=this_patch, stride=this_stride, step=step, score=score)
        saliencies, geometry = {}, None
        for method, stimulus in stimuli.items():
            raw = _load_raw(stimulus)
            if raw is not None:
                saliencies[method] = saliency_2d(raw)
                geometry = stimulus_geometry(stimulus)
        if not saliencies:
            continue
        boxes = scale_boxes(image.boxes_for(target), (image.width, image.height), (h, w), geometry)
        if not boxes:
            continue
        target_index = list(model_row.categories).index(target)
        results = evaluate_maps(
            bundle.module,
            x,
            target_index,
            saliencies,
            boxes,
            patch=this_patch,
            stride=this_stride,
            score=score,
            step=step,
        )
        for method, values in results.items():
            rows.append(
                {
                    "model_role": role,
                    "model": model_row.name,
                    "image": image.filename,
                    "target_class": target,
                    "method": method,
                    **values,
                }
            )
        if progress:
            progress(n, len(units))
    summary = _summarize(rows)
    names = {role: m.name for role, m in models.items() if m is not None and role in summary}
    return {"parameters": parameters, "summary": summary, "rows": rows, "methods": list(study.methods), "models": names}


def do_run_report(report_id: int, get_bundle, progress=None) -> FaithfulnessReport:
    """Run a pending report (the Celery task's body); failures are stored with their reason."""
    report = FaithfulnessReport.objects.select_related("study").get(pk=report_id)
    report.status = JobStatus.RUNNING
    report.save(update_fields=["status"])
    try:
        results = do_faithfulness(
            report.study, get_bundle, max_images=report.parameters.get("max_images"), progress=progress
        )
    except Exception as exc:
        report.status, report.error = JobStatus.FAILED, f"{type(exc).__name__}: {exc}"
        report.finished_at = timezone.now()
        report.save(update_fields=["status", "error", "finished_at"])
        raise
    report.results, report.status, report.finished_at = results, JobStatus.DONE, timezone.now()
    report.save(update_fields=["results", "status", "finished_at"])
    return report


def latest_report(study: Study) -> FaithfulnessReport | None:
    return study.faithfulness_reports.filter(status=JobStatus.DONE).first()


def format_report(results: dict, human: dict | None = None) -> str:
    """The report as a text table, one row per (model, method), with the human score beside it."""
    labels = {role: model_label(results, role) for role in results.get("summary", {})}
    width = max([9, *(len(label) + 2 for label in labels.values())])
    header = f"{'model':<{width}}{'method':<24}{'n':>4}" + "".join(f"{m:>18}" for m in METRICS)
    if human:
        header += f"{'human':>10}"
    lines = [header]
    for role, methods in results.get("summary", {}).items():
        for method, values in methods.items():
            cells = "".join(f"{'-' if values[m] is None else format(values[m], '.3f'):>18}" for m in METRICS)
            line = f"{labels[role]:<{width}}{method:<24}{values['n']:>4}{cells}"
            if human:
                score = human.get(method)
                line += f"{'-' if score is None else format(score, '.3f'):>10}"
            lines.append(line)
    return "\n".join(lines)


def do_request_report(
    study: Study, *, max_images: int | None = DEFAULT_MAX_IMAGES, wait_timeout: float | None = None
) -> FaithfulnessReport:
    """Create a report and hand it to the `gpu` queue; with `wait_timeout`, wait for it to finish."""
    from .tasks import gpu_faithfulness_report

    report = FaithfulnessReport.objects.create(study=study, parameters={"max_images": max_images})
    result = gpu_faithfulness_report.delay(report.pk)
    if wait_timeout is not None:
        try:
            result.get(timeout=wait_timeout, propagate=False)
        finally:
            report.refresh_from_db()
    return report


def human_scores(result: dict) -> dict[str, float | None]:
    """Per method, from an analysis report: accuracy (class discrimination) or mean score toward the
    stronger network (trust)."""
    key = "mean_rating" if result.get("kind") == StudyKind.TRUST else "accuracy"
    return {method: values.get(key) for method, values in result.get("methods", {}).items()}
