"""A study's life after generation: its configuration frozen at launch, launch and close."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from .models import Study, StudyStatus, Trial
from .stimuli.bank import shortfall_text, trials_available
from .stimuli.configuration import StudyError, study_config_errors
from .stimuli.generation import UNFINISHED, linked_stimuli, stimuli_complete
from .stimuli.geometry import model_geometry


def _model_dict(model) -> dict | None:
    if model is None:
        return None
    return {
        "id": model.pk,
        "name": model.name,
        "arch": model.arch,
        "weights_name": model.weights_name,
        "weights_sha256": model.weights_sha256,
        "target_layer": model.target_layer,
        "categories": list(model.categories),
        "input_size": model.input_size,
        "display": model.display,
        "display_geometry": model_geometry(model).to_dict(),
    }


def study_config_dict(study: Study) -> dict:
    """The whole configuration of a study as plain JSON (frozen into `config_snapshot` at launch)."""
    trials = Trial.objects.filter(study=study)
    stimuli = linked_stimuli(study.pk)
    return {
        "name": study.name,
        "slug": study.slug,
        "kind": study.kind,
        "design": study.design,
        "methods": list(study.methods or []),
        "control_arm": study.control_arm,
        "arms": study.arms,
        "models": {
            "model": _model_dict(study.model),
            "stronger_model": _model_dict(study.stronger_model),
            "weaker_model": _model_dict(study.weaker_model),
        },
        "image_set": (
            {"id": study.image_set.pk, "name": study.image_set.name, "images": study.image_set.images.count()}
            if study.image_set
            else None
        ),
        "trials_per_participant": study.trials_per_participant,
        "target_participants_per_condition": study.target_participants_per_condition,
        "seed": study.seed,
        "max_images": study.max_images,
        "render_style": study.render_style,
        "colormap": study.colormap,
        "min_visible_box_fraction": study.min_visible_box_fraction,
        "accept_fewer_trials": study.accept_fewer_trials,
        "trials_available_per_participant": trials_available(study),
        "consent_text": study.consent_text,
        "withdrawal_policy": study.withdrawal_policy,
        "instructions_text": study.instructions_text,
        "debrief_text": study.debrief_text,
        "completion_code": study.completion_code,
        "completion_url": study.completion_url,
        "attention_checks_per_participant": study.attention_checks_per_participant,
        "max_failed_attention_checks": study.max_failed_attention_checks,
        "min_median_rt_ms": study.min_median_rt_ms,
        "inactivity_timeout_minutes": study.inactivity_timeout_minutes,
        "min_window_width": study.min_window_width,
        "min_window_height": study.min_window_height,
        "eligible_image_count": study.eligible_image_count,
        "surviving_image_count": study.surviving_image_count,
        "trials": {
            "total": trials.count(),
            "main": trials.filter(kind="main").count(),
            "attention": trials.filter(kind="attention").count(),
        },
        "stimuli": {
            "count": stimuli.count(),
            "engine_versions": sorted(set(stimuli.values_list("engine_version", flat=True))),
            "recipe_versions": sorted(set(stimuli.values_list("recipe_version", flat=True))),
        },
    }


def do_launch(study: Study) -> Study:
    """Freeze the configuration and open the study to participants; refused until stimuli are complete."""
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        if study.status == StudyStatus.LIVE:
            raise StudyError("the study is already live")
        if study.status == StudyStatus.CLOSED:
            raise StudyError("the study is closed; closed studies do not reopen")
        if study.generation_jobs.filter(status__in=UNFINISHED).exists():
            raise StudyError("stimuli are still being generated; launch when the job is done")
        if study.status != StudyStatus.READY or not stimuli_complete(study):
            raise StudyError("generate the stimuli first: a study launches only when every trial has its stimuli")
        errors = study_config_errors(study)
        if errors:
            raise StudyError("; ".join(errors))
        shortfall = shortfall_text(study)
        if shortfall and not study.accept_fewer_trials:
            raise StudyError(shortfall)
        now = timezone.now()
        snapshot = study_config_dict(study)
        snapshot["launched_at"] = now.isoformat()
        study.config_snapshot = snapshot
        study.status = StudyStatus.LIVE
        study.launched_at = now
        study.save(update_fields=["config_snapshot", "status", "launched_at", "updated_at"])
    return study


def do_close(study: Study) -> Study:
    """Stop new participants; every answer stays."""
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        if study.status != StudyStatus.LIVE:
            raise StudyError(f"only a live study can be closed (this one is {study.get_status_display().lower()})")
        study.status = StudyStatus.CLOSED
        study.closed_at = timezone.now()
        study.save(update_fields=["status", "closed_at", "updated_at"])
    return study
