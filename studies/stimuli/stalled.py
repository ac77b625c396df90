"""Stalled generation jobs plan themselves again.

A job whose messages were lost (the broker restarted without persistence, or a queue was purged)
would wait forever: nothing is queued, nothing runs, the counts stop. A job is stalled when it is
unfinished, has made no stimulus and recorded no failure for STALLED_JOB_TIMEOUT_S, and its GPU
queue is empty. Re-planning sends `gpu_plan_generation` again: planning links every stimulus that
exists and queues chunks only for the missing ones, so nothing is made twice.

The check runs when staff poll a study's progress and, where Celery beat runs, every few minutes
(`studies.tasks.replan_stalled_jobs`).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from ..models import GenerationJob, Study
from . import generation, queues

log = logging.getLogger(__name__)


def timeout_s() -> int:
    return int(getattr(settings, "STALLED_JOB_TIMEOUT_S", 900))


def last_activity(job: GenerationJob):
    """The last sign of life: created, started, re-planned, a stimulus made or a failure recorded."""
    moments = [job.created_at, job.started_at, job.replanned_at]
    if job.started_at:
        made = generation.linked_stimuli(job.study_id).filter(created_at__gte=job.started_at)
        moments.append(made.aggregate(last=Max("created_at"))["last"])
    moments.append(job.failures.aggregate(last=Max("created_at"))["last"])
    return max(m for m in moments if m is not None)


def is_stalled(job: GenerationJob, now=None) -> bool:
    if job.status not in generation.UNFINISHED:
        return False
    now = now or timezone.now()
    if last_activity(job) > now - timedelta(seconds=timeout_s()):
        return False
    study = Study.objects.select_related("model", "stronger_model", "weaker_model").get(pk=job.study_id)
    # Work still waiting in the queue is not lost: the workers are only busy (or absent).
    return queues.queue_depth(queues.study_queue(study)) == 0


def replan(job: GenerationJob, enqueue=None, now=None) -> bool:
    """Send the job's planning again, once per stall (a concurrent check that lost the race does nothing)."""
    now = now or timezone.now()
    claimed = GenerationJob.objects.filter(pk=job.pk, replanned_at=job.replanned_at).update(
        replanned_at=now, replans=F("replans") + 1
    )
    if not claimed:
        return False
    if enqueue is None:
        from ..tasks import gpu_plan_generation

        def enqueue(job_id):
            gpu_plan_generation.delay(job_id)

    log.warning("generation job %s made no progress for %s s: planning it again", job.pk, timeout_s())
    job_id = job.pk
    transaction.on_commit(lambda: enqueue(job_id))
    return True


def replan_if_stalled(job: GenerationJob | None, enqueue=None, now=None) -> bool:
    if job is None or not is_stalled(job, now):
        return False
    return replan(job, enqueue, now)


def replan_stalled_jobs(enqueue=None, now=None) -> list[int]:
    """Every stalled job, planned again. Returns their ids."""
    return [
        job.pk
        for job in GenerationJob.objects.filter(status__in=generation.UNFINISHED).order_by("pk")
        if replan_if_stalled(job, enqueue, now)
    ]
