"""The paper's automatic evaluations of a study's methods, beside the human results.

For each model of the study and each (image, class) of its main trials, on the very raw maps the
participants' stimuli were rendered from: pointing game, localization IoU (box around the largest
region above 15% of the maximum), Spearman correlation with an occlusion map (the paper's
faithfulness), RISE's deletion and insertion AUC, ROAD (most and least relevant first), Average
Drop and Increase in Confidence, faithfulness correlation, the energy-based pointing game and Gini
sparseness. Averaged per method (and per model for trust studies). On the first few of those
(image, class) pairs, the sanity checks of Adebayo et al. 2018 per method: cascading MPRT, its smooth
variant and the random-logit test, which explain again on randomized copies of the network. Every
metric's parameters are stored with the report under a version. The metrics themselves live in
explain_engine.metrics; this module feeds them.
"""

from __future__ import annotations

import io
import math
import random
import warnings
from collections import defaultdict

import numpy as np
from django.db.models import Prefetch
from django.utils import timezone

from explain_engine.geometry import WHOLE

from .. import design
from ..kinds import DEFAULT_KIND, kind_of
from ..models import FaithfulnessReport, JobStatus, Study, Trial, TrialKind, TrialPanel
from ..stimuli import media_cache
from ..stimuli.geometry import stimulus_geometry

DEFAULT_MAX_IMAGES = 40
DEFAULT_SANITY_IMAGES = 2
# Bumped whenever a metric's definition or default parameters change, so that stored reports say
# which definitions their numbers come from.
METRICS_VERSION = 2
METRICS = (
    "pointing_game",
    "localization_iou",
    "occlusion_rho",
    "deletion_auc",
    "insertion_auc",
    "road_morf",
    "road_lerf",
    "average_drop",
    "increase_in_confidence",
    "faithfulness_corr",
    "energy_pointing_game",
    "gini",
)
METRIC_LABELS = {
    "pointing_game": "Pointing game (hit rate)",
    "localization_iou": "Localization IoU (15% rule)",
    "occlusion_rho": "Rank correlation with occlusion",
    "deletion_auc": "Deletion AUC (lower is better)",
    "insertion_auc": "Insertion AUC (higher is better)",
    "road_morf": "ROAD, most relevant first (lower is better)",
    "road_lerf": "ROAD, least relevant first (higher is better)",
    "average_drop": "Average Drop % (lower is better)",
    "increase_in_confidence": "Increase in Confidence % (higher is better)",
    "faithfulness_corr": "Faithfulness correlation",
    "energy_pointing_game": "Energy-based pointing game",
    "gini": "Sparseness (Gini)",
}
# Fixed parameters of the metrics (those that depend on the image size are added per report).
ROAD_PERCENTAGES = (20, 50, 80)
ROAD_NOISE = 0.01
CONFIDENCE_BASELINE = 0.0
FAITHFULNESS_CORR_RUNS = 20
SANITY_SMOOTH_SAMPLES = 3
SANITY_NOISE_LEVEL = 0.1
SANITY_MAX_STEPS = 6


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


def metric_parameters(*, patch: int, stride: int, step: int, score: str, subset_size: int, seed: int) -> dict:
    """Every metric's parameters as stored with the report."""
    return {
        "version": METRICS_VERSION,
        "seed": seed,
        "score": score,
        "occlusion": {"patch": patch, "stride": stride, "baseline": 0.0, "score": "logit"},
        "deletion": {"step": step, "baseline": 0.0},
        "insertion": {"step": step, "substrate": "blur", "blur_sigma": 5.0},
        "pointing_game": {"tolerance": 15.0},
        "localization_iou": {"threshold": 0.15},
        "road": {"percentages": list(ROAD_PERCENTAGES), "imputation": "noisy_linear", "noise": ROAD_NOISE},
        "confidence": {"baseline": CONFIDENCE_BASELINE, "mask": "min-max scaled map"},
        "faithfulness_corr": {"runs": FAITHFULNESS_CORR_RUNS, "subset_size": subset_size, "baseline": 0.0},
        "energy_pointing_game": {"ground_truth": "union of the class's boxes"},
        "gini": {"input": "|map|"},
    }


def evaluate_maps(model, x, target_index: int, saliencies: dict, boxes, *, params: dict) -> dict:
    """Every metric for every method's map of one (image, class), sharing one occlusion map."""
    from explain_engine import metrics

    occ, score, seed = params["occlusion"], params["score"], params["seed"]
    step = params["deletion"]["step"]
    occlusion = metrics.occlusion_map(model, x, target_index, patch=occ["patch"], stride=occ["stride"], score="logit")
    road = dict(percentages=ROAD_PERCENTAGES, noise=ROAD_NOISE, seed=seed, score=score)
    results = {}
    for method, sal in saliencies.items():
        change = metrics.confidence_change(model, x, target_index, sal, baseline=CONFIDENCE_BASELINE, score=score)
        results[method] = {
            "pointing_game": float(metrics.pointing_game(sal, np.asarray(boxes))),
            "localization_iou": float(metrics.localization_iou(sal, boxes)),
            "occlusion_rho": float(metrics.occlusion_faithfulness(sal, occlusion)),
            "deletion_auc": float(metrics.deletion_auc(model, x, target_index, sal, step=step, score=score)),
            "insertion_auc": float(metrics.insertion_auc(model, x, target_index, sal, step=step, score=score)),
            "road_morf": float(np.mean(metrics.road_curve(model, x, target_index, sal, **road))),
            "road_lerf": float(
                np.mean(metrics.road_curve(model, x, target_index, sal, most_relevant_first=False, **road))
            ),
            # Per image, 100 x the drop and 100 x the increase: their means are the two metrics.
            "average_drop": 100 * change["drop"],
            "increase_in_confidence": 100.0 * change["increase"],
            "faithfulness_corr": metrics.faithfulness_correlation(
                model,
                x,
                target_index,
                sal,
                runs=FAITHFULNESS_CORR_RUNS,
                subset_size=params["faithfulness_corr"]["subset_size"],
                seed=seed,
                score=score,
            ),
            "energy_pointing_game": metrics.energy_pointing_game(sal, np.asarray(boxes)),
            "gini": metrics.gini(sal),
        }
        # nan (a constant map, a saturated score) becomes null: PostgreSQL's JSON has no NaN.
        results[method] = {k: _finite(v) for k, v in results[method].items()}
    return results


def _finite(value):
    value = float(value)
    return value if math.isfinite(value) else None


def sanity_checks(model, layer: str | None, x, target_index: int, methods, num_classes: int, seed: int) -> dict:
    """Cascading MPRT, Smooth-MPRT and the random-logit test of each method on one (image, class).
    Methods the engine does not compute (textual) are left out."""
    from explain_engine import METHODS, Explainer, metrics

    layers = metrics.randomization_layers(model)
    every = max(1, math.ceil(len(layers) / SANITY_MAX_STEPS))
    out = {}
    for method in methods:
        if method not in METHODS:
            continue

        def explain(net, inp, target, method=method):
            return Explainer(net, layer).explain(inp, target, methods=(method,))[method][0, 0]

        plain = metrics.mprt(model, explain, x, target_index, seed=seed, layers=layers, record_every=every)
        smooth = metrics.mprt(
            model,
            explain,
            x,
            target_index,
            seed=seed,
            layers=layers,
            record_every=every,
            smooth_samples=SANITY_SMOOTH_SAMPLES,
            noise_level=SANITY_NOISE_LEVEL,
        )
        out[method] = {
            "layers": plain["layers"],
            "spearman": plain["spearman"],
            "ssim": plain["ssim"],
            "smooth_spearman": smooth["spearman"],
            "smooth_ssim": smooth["ssim"],
            "random_logit": metrics.random_logit(model, explain, x, target_index, num_classes, seed=seed),
        }
    return out


def _nanmean(values):
    values = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(values)) if values else None


def _summarize_sanity(per_unit: list[tuple[str, dict]]) -> dict:
    """Per (model role, method): the curves averaged over the images, step by step."""
    grouped: dict = defaultdict(list)
    for role, methods in per_unit:
        for method, values in methods.items():
            grouped[(role, method)].append(values)
    out: dict = {}
    for (role, method), group in grouped.items():
        summary = {"n": len(group), "layers": group[0]["layers"]}
        for key in ("spearman", "ssim", "smooth_spearman", "smooth_ssim"):
            summary[key] = [_nanmean(step) for step in zip(*(g[key] for g in group))]
        summary["random_logit"] = _nanmean([g["random_logit"] for g in group])
        out.setdefault(role, {})[method] = summary
    return out


def metric_vs_human(rows: list[dict], human: dict, *, n_boot: int = 1000, seed: int = 0) -> dict:
    """Per automatic metric, Spearman's correlation across methods between the method's mean metric
    (over the report's images, all models pooled) and its human outcome, with a percentile bootstrap
    CI (95%) that resamples the images. None where fewer than three methods have both numbers."""
    methods = sorted({r["method"] for r in rows if human.get(r["method"]) is not None})
    if len(methods) < 3:
        return {}
    images = sorted({(r["image"], r["target_class"]) for r in rows})
    at = {key: i for i, key in enumerate(images)}
    col = {m: j for j, m in enumerate(methods)}
    cube = np.full((len(images), len(methods), len(METRICS)), np.nan)
    for r in rows:
        if r["method"] in col:
            cube[at[(r["image"], r["target_class"])], col[r["method"]]] = [
                np.nan if r.get(k) is None else r[k] for k in METRICS
            ]
    h = np.asarray([human[m] for m in methods], dtype=np.float64)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(images), size=(n_boot, len(images)))
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a metric all nan for a method: its mean stays nan
        means = np.nanmean(cube, axis=0)  # (methods, metrics)
        boot = np.nanmean(cube[picks], axis=1)  # (n_boot, methods, metrics)
    for k, metric in enumerate(METRICS):
        rho = _spearman(means[:, k], h)
        draws = np.asarray([_spearman(b, h) for b in boot[:, :, k]], dtype=np.float64)  # None -> nan
        draws = draws[np.isfinite(draws)]
        out[metric] = {
            "rho": rho,
            "ci_low": float(np.percentile(draws, 2.5)) if draws.size else None,
            "ci_high": float(np.percentile(draws, 97.5)) if draws.size else None,
            "methods": len(methods),
            "images": len(images),
        }
    return out


def _spearman(a, b) -> float | None:
    from explain_engine.metrics import rank_correlation

    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return None
    rho = rank_correlation(a[ok], b[ok])
    return None if math.isnan(rho) else rho


def _load_raw(stimulus) -> np.ndarray | None:
    if not stimulus or not stimulus.raw_map:
        return None
    with stimulus.raw_map.open("rb") as fh:
        return np.load(io.BytesIO(fh.read()), allow_pickle=False)


def study_units(study: Study, max_images: int | None, seed: int) -> list[tuple]:
    """(image, target class, {method: stimulus}, model role) for the study's main trials, seeded subset.

    A role is the study's network field without "_model" ("model", "stronger", "weaker"), per the kind."""
    roles = {getattr(study, f"{f}_id"): f.removesuffix("_model") or "model" for f in kind_of(study).model_fields}
    order = list(roles.values())
    trials = (
        Trial.objects.filter(study=study, kind=TrialKind.MAIN)
        .select_related("image")
        .prefetch_related(Prefetch("panels", queryset=TrialPanel.objects.select_related("stimulus")))
        .order_by("index")
    )
    grouped: dict[tuple[int, str], dict] = defaultdict(lambda: {"image": None, "roles": defaultdict(dict)})
    for trial in trials:
        for panel in trial.panels.all():
            stimulus = panel.stimulus
            target = stimulus.target_class if stimulus is not None else trial.target_class
            entry = grouped[(trial.image_id, target)]
            entry["image"] = trial.image
            role = roles.get(stimulus.model_id) if stimulus is not None else order[min(panel.slot, len(order) - 1)]
            # By the stimulus's own method: a kind may show an arm's trial without its map (forward
            # simulation's test trials), and the control arm's photograph has no map to evaluate.
            method = stimulus.method if stimulus is not None else trial.method
            if method != design.NO_EXPLANATION:
                entry["roles"][role][method] = stimulus
    keys = sorted(grouped)
    if max_images is not None and len(keys) > max_images:
        keys = sorted(random.Random(design.derive_seed(seed, "faithfulness")).sample(keys, max_images))
    units = []
    for key in keys:
        entry = grouped[key]
        for role in order:
            if entry["roles"].get(role):
                units.append((entry["image"], key[1], entry["roles"][role], role))
    return units


def _summarize(rows: list[dict]) -> dict:
    out: dict = {}
    for (role, method), group in _group(rows).items():
        summary = {"n": len(group)}
        for metric in METRICS:
            summary[metric] = _nanmean([r.get(metric) for r in group])
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
    sanity_images: int = DEFAULT_SANITY_IMAGES,
    patch: int | None = None,
    stride: int | None = None,
    progress=None,
) -> dict:
    """Compute the report's numbers for a study whose stimuli exist. Returns the results JSON.
    ``sanity_images``: on how many (image, class) pairs per model the sanity checks run (they
    explain again after every randomization step, so they cost far more than the metrics)."""

    models = {"model": study.model, "stronger": study.stronger_model, "weaker": study.weaker_model}
    units = study_units(study, max_images, study.seed)
    rows: list[dict] = []
    sanity: list[tuple[str, dict]] = []
    sanity_done: dict[str, int] = defaultdict(int)
    parameters: dict = {"max_images": max_images, "sanity_images": sanity_images, "seed": study.seed}
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
        metric_params = metric_parameters(
            patch=this_patch,
            stride=this_stride,
            step=step,
            score=score,
            subset_size=max(1, (h * w) // 64),
            seed=study.seed,
        )
        parameters.update(patch=this_patch, stride=this_stride, step=step, score=score, metrics=metric_params)
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
        results = evaluate_maps(bundle.module, x, target_index, saliencies, boxes, params=metric_params)
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
        if sanity_done[role] < sanity_images:
            sanity_done[role] += 1
            layer = model_row.target_layer or bundle.target_layer
            checks = sanity_checks(
                bundle.module, layer, x[None], target_index, saliencies, len(model_row.categories), study.seed
            )
            sanity.append((role, checks))
        if progress:
            progress(n, len(units))
    parameters["sanity"] = {
        "version": METRICS_VERSION,
        "randomization": "cascading, top layer first, reset_parameters",
        "similarity": ["spearman of |maps|", "ssim of |maps| / max"],
        "smooth_samples": SANITY_SMOOTH_SAMPLES,
        "noise_level": SANITY_NOISE_LEVEL,
        "max_steps": SANITY_MAX_STEPS,
        "random_logit_class": "seeded draw among the other classes",
        "seed": study.seed,
    }
    summary = _summarize(rows)
    names = {role: m.name for role, m in models.items() if m is not None and role in summary}
    return {
        "parameters": parameters,
        "summary": summary,
        "sanity": _summarize_sanity(sanity),
        "rows": rows,
        "methods": list(study.methods),
        "models": names,
    }


def do_run_report(report_id: int, get_bundle, progress=None) -> FaithfulnessReport:
    """Run a pending report (the Celery task's body); failures are stored with their reason."""
    report = FaithfulnessReport.objects.select_related("study").get(pk=report_id)
    report.status = JobStatus.RUNNING
    report.save(update_fields=["status"])
    try:
        results = do_faithfulness(
            report.study,
            get_bundle,
            max_images=report.parameters.get("max_images"),
            sanity_images=report.parameters.get("sanity_images", DEFAULT_SANITY_IMAGES),
            progress=progress,
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
    for role, methods in results.get("sanity", {}).items():
        lines.append(f"Sanity checks, {labels.get(role, role)} (similarity to the trained network's map):")
        for method, v in methods.items():
            lines.append(
                f"  {method:<22} Spearman top layer {_step(v, 'spearman', 0)}, all {_step(v, 'spearman', -1)}; "
                f"SSIM {_step(v, 'ssim', 0)}, {_step(v, 'ssim', -1)}; "
                f"Smooth-MPRT Spearman all {_step(v, 'smooth_spearman', -1)}; random logit {_fmt(v.get('random_logit'))}"
            )
    return "\n".join(lines)


def _fmt(value) -> str:
    return "-" if value is None else format(value, ".3f")


def _step(values: dict, key: str, at: int) -> str:
    return _fmt((values.get(key) or [None])[at])


def do_request_report(
    study: Study,
    *,
    max_images: int | None = DEFAULT_MAX_IMAGES,
    sanity_images: int = DEFAULT_SANITY_IMAGES,
    wait_timeout: float | None = None,
) -> FaithfulnessReport:
    """Create a report and hand it to the `gpu` queue; with `wait_timeout`, wait for it to finish."""
    from ..tasks import gpu_faithfulness_report

    report = FaithfulnessReport.objects.create(
        study=study, parameters={"max_images": max_images, "sanity_images": sanity_images}
    )
    result = gpu_faithfulness_report.delay(report.pk)
    if wait_timeout is not None:
        try:
            result.get(timeout=wait_timeout, propagate=False)
        finally:
            report.refresh_from_db()
    return report


def study_metric_vs_human(study: Study, result: dict) -> dict:
    """The metric-vs-human table of a study's latest report against an analysis ``result``; {}
    without a report or with fewer than three methods scored by both."""
    report = latest_report(study)
    if report is None:
        return {}
    return metric_vs_human(report.results.get("rows", []), human_scores(result), seed=study.seed)


def metrics_beside_human(report, human: dict) -> list[dict]:
    """One row per (network role, method) of a report's summary: the means of the automatic metrics
    beside the method's human outcome (`human`, method -> value; None where the study has none)."""
    rows = []
    for role, methods in report.results.get("summary", {}).items():
        for method, values in methods.items():
            rows.append({"role": role, "method": method, "human": human.get(method), **values})
    return rows


def study_metrics_beside_human(study: Study, result: dict) -> list[dict]:
    """`metrics_beside_human` of the study's latest report against an analysis ``result`` ([] without a
    report). Unlike `metric_vs_human` it needs no third method: a study of two methods and a control
    arm still reads each method's human outcome next to its automatic metrics."""
    report = latest_report(study)
    return [] if report is None else metrics_beside_human(report, human_scores(result))


def human_scores(result: dict) -> dict[str, float | None]:
    """Per method, from an analysis report: accuracy (class discrimination) or mean score toward the
    stronger network (trust)."""
    key = kind_of(result.get("kind") or DEFAULT_KIND).human_measure()
    return {method: values.get(key) for method, values in result.get("methods", {}).items()}
