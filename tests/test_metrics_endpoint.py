"""/metrics serves Prometheus gauges (queue depth per queue, generation, participants, answers) and request
latency histograms, to staff or to a scraper holding the metrics token, and to nobody else."""

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from studies.models import GenerationJob
from studies.tasks import gpu_probe
from tests.conftest import flush_test_broker
from tests.support import factories

pytestmark = pytest.mark.django_db


def samples(response) -> dict:
    out = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = "scraper-secret-token"
    return settings.METRICS_TOKEN


def test_only_staff_and_the_token_holder_read_the_metrics(token, researcher_client, outsider):
    assert researcher_client.get("/metrics").status_code == 200
    assert Client().get("/metrics").status_code == 403
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong-token").status_code == 403
    other = Client()
    other.force_login(outsider)
    assert other.get("/metrics").status_code == 403
    scraped = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert scraped.status_code == 200 and scraped["Content-Type"].startswith("text/plain; version=")


def test_without_a_token_configured_a_bearer_header_opens_nothing(settings):
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403


def test_the_gauges_count_queued_tasks_jobs_participants_and_answers(token, researcher_client):
    flush_test_broker()
    try:
        for _ in range(3):
            gpu_probe.apply_async()  # no worker listens here: they wait in the `gpu` queue
        study = factories.make_class_discrimination_study(trials_per_participant=4, attention_checks=0)
        GenerationJob.objects.create(study=study, status="running", total=10, done=4)
        done = factories.answer_all(factories.make_participant(study))
        factories.make_participant(study)  # started, nothing answered yet
        researcher_client.get("/admin/")
        got = samples(Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}"))
    finally:
        flush_test_broker()
    assert got[("visexp_queue_depth", (("queue", "gpu"),))] == 3
    assert got[("visexp_queue_depth", (("queue", "celery"),))] == 0
    assert got[("visexp_generation_jobs", (("status", "running"),))] == 1
    assert got[("visexp_generation_stimuli_remaining", ())] == 6
    assert got[("visexp_active_participants", ())] == 1  # the one still playing
    assert got[("visexp_answers_total", ())] == got[("visexp_answers_per_minute", ())] == done.answered_count == 4
    assert got[("visexp_stimuli_total", ())] >= 1 and ("visexp_stimuli_per_second", ()) in got
    assert ("visexp_tasks_in_flight", ()) in got
    latency = [k for k in got if k[0] == "django_http_requests_latency_seconds_by_view_method_bucket"]
    assert latency, "no request latency histogram"
