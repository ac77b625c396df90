"""Prometheus metrics at /metrics: what an autoscaler or an alert reads.

django-prometheus measures requests (latency histograms per view, counts, exceptions); this module
adds the platform's gauges, computed from Postgres and the broker when the endpoint is scraped, so
every web node reports the same figures:

- visexp_queue_depth{queue}: messages waiting per Celery queue (the autoscaling signal, README);
- visexp_tasks_in_flight: tasks delivered to workers and not yet acknowledged;
- visexp_generation_jobs{status}: generation jobs pending, running, failed;
- visexp_generation_stimuli_remaining: stimuli the unfinished jobs still have to make;
- visexp_generation_failures: stimuli that failed in unfinished jobs;
- visexp_stimuli_total, visexp_stimuli_per_second (over the last minute);
- visexp_active_participants: participants seen in the last ACTIVE_WINDOW_S;
- visexp_answers_total, visexp_answers_per_minute.

The endpoint answers staff sessions, or a scraper that sends `Authorization: Bearer $METRICS_TOKEN`.
"""

from __future__ import annotations

import hmac
import os
from datetime import timedelta

import prometheus_client
from django.conf import settings
from django.db.models import F, Sum
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from .models import (
    ClassifierModel,
    GenerationFailure,
    GenerationJob,
    JobStatus,
    Participant,
    ParticipantStatus,
    Response,
    Stimulus,
    Study,
)
from .stimuli import queues

ACTIVE_WINDOW_S = 300
RATE_WINDOW_S = 60


def known_queues() -> list[str]:
    """The queues workers listen on, plus every queue a study or a model pins."""
    names = set(settings.CELERY_WORKER_QUEUES) | {queues.default_gpu_queue(), settings.CELERY_TASK_DEFAULT_QUEUE}
    names |= set(Study.objects.exclude(gpu_queue="").values_list("gpu_queue", flat=True))
    names |= set(ClassifierModel.objects.exclude(gpu_queue="").values_list("gpu_queue", flat=True))
    return sorted(names)


class PlatformCollector:
    def collect(self):
        now = timezone.now()
        depth = GaugeMetricFamily("visexp_queue_depth", "Messages waiting in a Celery queue", labels=["queue"])
        for name in known_queues():
            depth.add_metric([name], queues.queue_depth(name))
        yield depth
        yield GaugeMetricFamily(
            "visexp_tasks_in_flight", "Tasks delivered to workers, not yet acknowledged", value=queues.in_flight()
        )

        jobs = GaugeMetricFamily("visexp_generation_jobs", "Generation jobs by status", labels=["status"])
        for status in (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.FAILED):
            jobs.add_metric([status], GenerationJob.objects.filter(status=status).count())
        yield jobs
        unfinished = GenerationJob.objects.filter(status__in=(JobStatus.PENDING, JobStatus.RUNNING))
        remaining = unfinished.aggregate(n=Sum(F("total") - F("done") - F("failed")))["n"] or 0
        yield GaugeMetricFamily(
            "visexp_generation_stimuli_remaining", "Stimuli unfinished jobs still have to make", value=max(remaining, 0)
        )
        yield GaugeMetricFamily(
            "visexp_generation_failures",
            "Stimuli that failed in unfinished jobs",
            value=GenerationFailure.objects.filter(job__in=unfinished).count(),
        )

        since = now - timedelta(seconds=RATE_WINDOW_S)
        yield CounterMetricFamily("visexp_stimuli", "Stimuli generated", value=Stimulus.objects.count())
        yield GaugeMetricFamily(
            "visexp_stimuli_per_second",
            f"Stimuli generated per second over the last {RATE_WINDOW_S} s",
            value=Stimulus.objects.filter(created_at__gte=since).count() / RATE_WINDOW_S,
        )
        yield GaugeMetricFamily(
            "visexp_active_participants",
            f"Participants in a study seen in the last {ACTIVE_WINDOW_S} s",
            value=Participant.objects.filter(
                status=ParticipantStatus.ACTIVE, last_seen_at__gte=now - timedelta(seconds=ACTIVE_WINDOW_S)
            ).count(),
        )
        yield CounterMetricFamily("visexp_answers", "Answers recorded", value=Response.objects.count())
        yield GaugeMetricFamily(
            "visexp_answers_per_minute",
            f"Answers recorded over the last {RATE_WINDOW_S} s, per minute",
            value=Response.objects.filter(answered_at__gte=since).count() * 60 / RATE_WINDOW_S,
        )


_PLATFORM = prometheus_client.CollectorRegistry(auto_describe=False)
_PLATFORM.register(PlatformCollector())


def _request_registry():
    # Under gunicorn with PROMETHEUS_MULTIPROC_DIR every worker process writes its samples there.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return prometheus_client.REGISTRY


def allowed(request) -> bool:
    if request.user.is_authenticated and request.user.is_staff:
        return True
    token = getattr(settings, "METRICS_TOKEN", "")
    sent = request.headers.get("Authorization", "")
    return bool(token) and sent.startswith("Bearer ") and hmac.compare_digest(sent[7:].strip(), token)


@never_cache
def metrics_view(request):
    if not allowed(request):
        response = HttpResponse("metrics are for staff or a scraper with the metrics token\n", status=403)
        response["Content-Type"] = "text/plain; charset=utf-8"
        return response
    body = prometheus_client.generate_latest(_request_registry()) + prometheus_client.generate_latest(_PLATFORM)
    return HttpResponse(body, content_type=prometheus_client.CONTENT_TYPE_LATEST)
