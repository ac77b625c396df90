"""The study page's words for generation: one vocabulary, a planning phase, a queue position, clean failures."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from studies.models import FaithfulnessReport, GenerationFailure, GenerationJob, JobStatus, StudyStatus
from tests.support import factories

pytestmark = pytest.mark.django_db


def progress_json(client, study) -> dict:
    response = client.get(f"/staff/studies/{study.pk}/generation/progress.json")
    assert response.status_code == 200
    return response.json()


def test_a_job_level_failure_reads_as_its_reason_without_a_stray_colon(researcher_client):
    study = factories.make_class_discrimination_study(status=StudyStatus.DRAFT)
    job = GenerationJob.objects.create(study=study, status=JobStatus.FAILED, finished_at=timezone.now())
    GenerationFailure.objects.create(job=job, method="", reason="no image qualifies for this study")
    data = progress_json(researcher_client, study)
    assert data["failures"][0]["text"] == "no image qualifies for this study"
    assert "0 of 0" not in data["job"]["summary"] and "Failed while planning" in data["job"]["summary"]
    page = researcher_client.get(f"/admin/studies/study/{study.pk}/change/").content.decode()
    assert "<li>no image qualifies for this study</li>" in page
    assert ": no image qualifies" not in page


def test_a_planning_job_says_planning_not_zero_of_zero_stimuli(researcher_client):
    study = factories.make_class_discrimination_study(status=StudyStatus.GENERATING)
    GenerationJob.objects.create(study=study, status=JobStatus.RUNNING, total=0, started_at=timezone.now())
    job = progress_json(researcher_client, study)["job"]
    assert job["phase"] == "planning"
    assert "Planning" in job["summary"] and "0 of 0" not in job["summary"] and "s left" not in job["summary"]
    page = researcher_client.get(f"/admin/studies/study/{study.pk}/change/").content.decode()
    assert "building the trial bank" in page and "0 of 0 stimuli" not in page


def test_a_job_waiting_behind_a_faithfulness_report_shows_its_queue_position(researcher_client):
    busy = factories.make_class_discrimination_study(name="Long report study")
    FaithfulnessReport.objects.create(study=busy, status=JobStatus.RUNNING)
    study = factories.make_class_discrimination_study(status=StudyStatus.GENERATING)
    GenerationJob.objects.create(study=study, status=JobStatus.PENDING)
    job = progress_json(researcher_client, study)["job"]
    assert job["phase"] == "waiting" and job["queue_position"] == 2
    assert "position 2" in job["summary"] and "the faithfulness report of Long report study" in job["summary"]


def test_statuses_read_as_their_display_labels_on_the_page_and_in_the_poll(researcher_client):
    study = factories.make_class_discrimination_study(status=StudyStatus.GENERATING)
    GenerationJob.objects.create(study=study, status=JobStatus.RUNNING, total=10, done=3, started_at=timezone.now())
    data = progress_json(researcher_client, study)
    assert data["study_status_label"] == "Generating stimuli"
    assert data["job"]["summary"].startswith(f"Job {data['job']['id']} — Generating: 3 of 10 stimuli")
    page = researcher_client.get(f"/admin/studies/study/{study.pk}/change/").content.decode()
    assert 'data-progress="study_status">Generating stimuli<' in page
    assert ": running" not in page


def test_preview_before_the_stimuli_exist_says_to_generate_them_first(researcher_client):
    study = factories.make_class_discrimination_study(status=StudyStatus.DRAFT)
    study.trials.all().delete()
    page = researcher_client.get(f"/admin/studies/study/{study.pk}/change/").content.decode()
    assert "Generate the stimuli first" in page and 'data-testid="pilot-preview"' not in page
    response = researcher_client.get(f"/admin/studies/study/{study.pk}/preview/", follow=True)
    assert "Generate the stimuli first" in response.content.decode()
    assert "Study not found" not in response.content.decode()
    assert response.redirect_chain[-1][0] == f"/admin/studies/study/{study.pk}/change/"


def test_a_live_study_page_saves_only_its_consent_text_and_its_messages_do_not_repeat_its_name(researcher_client):
    study = factories.make_class_discrimination_study(name="My long-named pilot study", status=StudyStatus.LIVE)
    page = researcher_client.get(f"/admin/studies/study/{study.pk}/change/").content.decode()
    assert 'name="_save"' in page and 'name="_continue"' not in page and 'name="_addanother"' not in page
    assert re.findall(r'<(?:input|textarea|select)[^>]*name="(?!csrfmiddlewaretoken|_save)(\w+)"', page) == [
        "consent_text"
    ]
    response = researcher_client.post(f"/admin/studies/study/{study.pk}/launch/", follow=True)
    texts = [str(m) for m in response.context["messages"]]
    assert texts == ["The study is already live."]
    listing = researcher_client.post(
        "/admin/studies/study/", {"action": "launch_studies", "_selected_action": [study.pk]}, follow=True
    )
    assert [str(m) for m in listing.context["messages"]] == ["My long-named pilot study: the study is already live"]
