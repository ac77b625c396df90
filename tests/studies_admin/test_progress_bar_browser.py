"""The study's admin page follows a running generation job live, in a real browser."""

from __future__ import annotations

import pytest
from django.utils import timezone

from studies.models import GenerationFailure, GenerationJob, JobStatus
from tests.support import factories

pytestmark = pytest.mark.browser


def test_the_progress_bar_follows_the_job_and_the_page_reloads_when_it_ends(admin_page, live_server):
    study = factories.make_class_discrimination_study()
    job = GenerationJob.objects.create(
        study=study, status=JobStatus.RUNNING, total=10, done=3, started_at=timezone.now()
    )
    admin_page.goto(f"{live_server.url}/admin/studies/study/{study.pk}/change/")
    summary = admin_page.locator('[data-progress="summary"]')
    bar = admin_page.locator('[data-progress="bar"]')
    assert "3 of 10 stimuli" in summary.inner_text()
    admin_page.evaluate("window.notReloaded = true")

    GenerationJob.objects.filter(pk=job.pk).update(done=7, failed=1)
    GenerationFailure.objects.create(job=job, method="gradcam", reason="the model cannot see this image")
    admin_page.wait_for_function(
        "document.querySelector('[data-progress=\"summary\"]').textContent.includes('7 of 10 stimuli, 1 failed')"
    )
    assert bar.get_attribute("style").replace(" ", "") == "width:70%;"
    assert "the model cannot see this image" in admin_page.locator('[data-progress="failures"]').inner_text()
    assert admin_page.evaluate("window.notReloaded") is True  # updated in place, not by reloading

    GenerationJob.objects.filter(pk=job.pk).update(status=JobStatus.DONE, done=9, finished_at=timezone.now())
    # A finished job reloads the page once, so that the buttons that depend on it are current.
    admin_page.wait_for_function("window.notReloaded === undefined")
    assert "Done" in summary.inner_text() and "9 of 10 stimuli" in summary.inner_text()
    assert admin_page.js_errors == []
