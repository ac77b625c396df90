"""A stimulus whose file cannot be written (in the write pool, beside the next forward pass) is recorded
as a failure with its reason and gets no row; the rest of its batch is made, and a new job makes it."""

import shutil

import pytest

from studies.models import GenerationFailure, Stimulus
from studies.stimuli import generation
from studies.stimuli.configuration import known_methods
from studies.stimuli.content_keys import engine_versions, unit_for
from studies.tasks import cached_bundle


@pytest.mark.django_db(transaction=True)
def test_a_stimulus_that_cannot_be_written_is_a_recorded_failure_and_its_batch_is_made(cd_study, media_root):
    job = generation.do_start_generation(cd_study, enqueue=lambda job_id: None)
    (chunk,) = generation.do_plan(job.pk, cached_bundle)
    images = {im.id: im for im in cd_study.image_set.images.all()}
    units = [
        unit_for(cd_study, images[item["image_id"]], cd_study.model, m, t, known_methods(), engine_versions())
        for item in chunk["items"]
        for m, t in item["units"]
    ]
    broken = next(u for u in units if u.method == "gradcam")
    # A directory where the PNG must go: the write fails, as on a full or broken disk.
    blocker = media_root / "stimuli" / broken.key[:2] / f"{broken.key}.png"
    shutil.rmtree(blocker, ignore_errors=True)
    blocker.unlink(missing_ok=True)
    (blocker / "in-the-way").mkdir(parents=True)
    try:
        counts = generation.do_process_chunk(chunk, cached_bundle)
    finally:
        shutil.rmtree(blocker)
    assert counts == {"created": len(units) - 1, "existing": 0, "failed": 1}
    made = set(Stimulus.objects.values_list("content_key", flat=True))
    assert made == {u.key for u in units} - {broken.key}
    failure = GenerationFailure.objects.get(job=job)
    assert (failure.image_id, failure.method) == (broken.image_id, "gradcam")
    assert broken.target_class in failure.reason and "Error" in failure.reason
    job.refresh_from_db()
    assert (job.status, job.done, job.failed) == ("failed", len(units) - 1, 1)
    assert not list((media_root / ".partial").iterdir()), "a temporary file was left behind"

    # Once the disk is repaired, a new job makes only what is missing.
    job = generation.do_start_generation(cd_study, enqueue=lambda job_id: None)
    (chunk,) = generation.do_plan(job.pk, cached_bundle)
    assert generation.do_process_chunk(chunk, cached_bundle) == {"created": 1, "existing": 0, "failed": 0}
    job.refresh_from_db()
    assert (job.status, job.done, job.failed) == ("done", len(units), 0)
