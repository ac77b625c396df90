"""A generation job whose messages were lost (the broker restarted without persistence) plans itself
again after a timeout and makes only the stimuli that are missing."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from studies.models import GenerationJob, Stimulus
from studies.stimuli import generation, stalled
from tests.conftest import flush_test_broker

from .test_generation_on_worker import wait_for_first_stimulus
from .test_worker_killed import bigger_study, quick_redelivery  # noqa: F401 - fixtures


def test_a_job_whose_planning_was_lost_is_planned_again_once_after_the_timeout(
    cd_study, settings, django_capture_on_commit_callbacks
):
    settings.STALLED_JOB_TIMEOUT_S = 60
    job = generation.do_start_generation(cd_study, enqueue=lambda job_id: None)  # the message is lost
    sent = []
    assert not stalled.replan_if_stalled(job, enqueue=sent.append)  # too early to tell
    later = timezone.now() + timedelta(seconds=61)
    with django_capture_on_commit_callbacks(execute=True):
        assert stalled.replan_stalled_jobs(enqueue=sent.append, now=later) == [job.pk]
    assert sent == [job.pk]
    job.refresh_from_db()
    assert job.replans == 1 and job.replanned_at == later
    # The clock starts again from the re-plan: no second message while the first may still run.
    assert stalled.replan_stalled_jobs(enqueue=sent.append, now=later + timedelta(seconds=30)) == []


def test_a_finished_job_is_never_replanned(cd_study, settings):
    settings.STALLED_JOB_TIMEOUT_S = 0
    job = generation.do_start_generation(cd_study, enqueue=lambda job_id: None)
    GenerationJob.objects.filter(pk=job.pk).update(status="done")
    job.refresh_from_db()
    assert not stalled.replan_if_stalled(job, enqueue=lambda job_id: None)


@pytest.mark.worker
def test_a_job_whose_chunks_the_broker_lost_finishes_when_its_progress_is_polled(
    quick_redelivery,  # noqa: F811
    celery_worker,
    bigger_study,  # noqa: F811
    settings,
    researcher_client,
):
    settings.STALLED_JOB_TIMEOUT_S = 2
    job = generation.do_start_generation(bigger_study)
    wait_for_first_stimulus()
    celery_worker.kill()
    flush_test_broker()  # the broker comes back empty: every queued and unacknowledged chunk is gone
    made_before = set(Stimulus.objects.values_list("pk", "content_key", "created_at"))
    job.refresh_from_db()
    assert job.status == "running" and job.done < job.total

    celery_worker.start()
    deadline = time.monotonic() + 180
    while job.status != "done":
        assert time.monotonic() < deadline, f"job still {job.status} ({job.done}/{job.total})"
        assert researcher_client.get(f"/staff/studies/{bigger_study.pk}/generation/progress.json").status_code == 200
        time.sleep(0.5)
        job.refresh_from_db()
    assert (job.done, job.failed) == (job.total, 0) and job.replans >= 1
    keys = list(Stimulus.objects.values_list("content_key", flat=True))
    assert len(keys) == len(set(keys)) == job.total
    assert made_before <= set(Stimulus.objects.values_list("pk", "content_key", "created_at"))
