"""Generation through a real Celery worker on Redis: the expected stimuli, exactly once; a second run creates nothing."""

import io
import time

import numpy as np
import pytest
from PIL import Image

from studies.models import GenerationJob, Stimulus, Study
from studies.stimuli import generation


def wait_for_job(job, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status in ("done", "failed"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job.pk} still {job.status} ({job.done}/{job.total}) after {timeout}s")


def wait_for_first_stimulus(timeout=120):
    """Returns as soon as a worker has made a stimulus (to interrupt a job in the middle)."""
    deadline = time.monotonic() + timeout
    while not Stimulus.objects.exists():
        assert time.monotonic() < deadline, "no worker made a stimulus"
        time.sleep(0.02)


@pytest.mark.worker
def test_a_worker_generates_every_stimulus_and_a_second_run_creates_nothing(celery_worker, cd_study, trust_study):
    job = wait_for_job(generation.do_start_generation(cd_study))
    assert (job.status, job.total, job.done, job.failed) == ("done", 20, 20, 0), list(job.failures.values())
    cd = Study.objects.get(pk=cd_study.pk)
    assert cd.status == "ready" and cd.eligible_image_count == 4
    trials = list(cd.trials.select_related("image").prefetch_related("panels__stimulus"))
    assert len(trials) == 20 and all(t.panels.get().stimulus for t in trials)
    for t in trials:
        s = t.panels.get().stimulus
        assert (s.image_id, s.method, s.target_class, s.model_id) == (t.image_id, t.method, t.target_class, cd.model_id)
        assert Image.open(s.png.open("rb")).size == (128, 128)
        assert s.engine_version and s.recipe_version and s.provenance["content_key"] == s.content_key
        if t.method == "photo_crop":
            pixels = np.asarray(Image.open(s.png.open("rb")).convert("RGB"))
            x0, y0, x1, y1 = t.image.boxes_for(t.target_class)[0]
            assert (pixels[:y0] == 128).all() and (pixels[y1:] == 128).all()
            assert not s.raw_map
        else:
            raw = np.load(io.BytesIO(s.raw_map.open("rb").read()))
            assert raw.shape == ((128, 128) if s.method == "gradcam" else (3, 128, 128))
            assert s.render_style == ("masked" if s.method == "gradcam" else "gradient")

    trust_job = wait_for_job(generation.do_start_generation(trust_study))
    trust = Study.objects.get(pk=trust_study.pk)
    assert trust_job.status == "done" and trust.status == "ready"
    assert (trust.eligible_image_count, trust.surviving_image_count) == (5, 4)
    for t in trust.trials.prefetch_related("panels__stimulus"):
        stronger, weaker = (p.stimulus for p in t.panels.all())
        assert stronger.model_id == trust.stronger_model_id and weaker.model_id == trust.weaker_model_id
        assert stronger.method == weaker.method == t.method
    assert Stimulus.objects.count() == 20 + 4 * 2 * 2

    before = set(Stimulus.objects.values_list("pk", "content_key", "created_at"))
    again = wait_for_job(generation.do_start_generation(cd_study))
    assert (again.status, again.total, again.done) == ("done", 20, 20)
    assert set(Stimulus.objects.values_list("pk", "content_key", "created_at")) == before
    assert GenerationJob.objects.filter(study=cd_study).count() == 2


@pytest.mark.worker
def test_the_generate_stimuli_command_follows_the_job_with_a_progress_bar(celery_worker, cd_study):
    from django.core.management import call_command

    out = io.StringIO()
    call_command("generate_stimuli", cd_study.slug, "--interval", "0.2", "--timeout", "180", stdout=out)
    text = out.getvalue()
    assert "20/20 100.0%" in text and "[##############################]" in text
    assert "done: 20 of 20 stimuli, 0 failed; study is ready" in text
    assert Stimulus.objects.count() == 20
