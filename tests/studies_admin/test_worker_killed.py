"""A worker SIGKILLed in the middle of a chunk: the chunk is redelivered and the job ends with every stimulus once."""

import re

import pytest

from studies.models import Stimulus, Study
from studies.stimuli import generation

from .conftest import files_under
from .test_generation_on_worker import wait_for_first_stimulus, wait_for_job


@pytest.fixture
def quick_redelivery(monkeypatch):
    # Redis hands an unacknowledged message (its worker died) back after the visibility timeout.
    monkeypatch.setenv("CELERY_VISIBILITY_TIMEOUT", "4")
    monkeypatch.setenv("CELERY_UNACKED_RESTORE_INTERVAL", "1")
    monkeypatch.setenv("TORCH_NUM_THREADS", "1")


@pytest.fixture
def bigger_study(db, media_root, strong_model):
    import io

    from studies.stimuli.imports import import_image_set

    from .conftest import scenes_archive

    images = import_image_set("many", io.BytesIO(scenes_archive(12, seed=3)))
    return Study.objects.create(
        name="Many",
        slug="many",
        kind="class_discrimination",
        methods=["gradcam", "guided_backprop", "deconvnet"],
        model=strong_model,
        image_set=images,
        seed=2,
        attention_checks_per_participant=1,
    )


@pytest.mark.worker
def test_a_worker_killed_mid_job_is_replaced_and_the_job_completes_with_no_duplicate(
    quick_redelivery, celery_worker, bigger_study, media_root
):
    job = generation.do_start_generation(bigger_study)
    wait_for_first_stimulus()
    celery_worker.kill()
    made_before_kill = Stimulus.objects.count()
    job.refresh_from_db()
    assert job.status == "running" and made_before_kill < job.total, "the kill came after the job ended"

    celery_worker.start()
    job = wait_for_job(job, timeout=180)
    assert (job.status, job.failed) == ("done", 0)
    assert job.done == job.total == Stimulus.objects.count() == 12 * 2 * 3 + 4
    keys = list(Stimulus.objects.values_list("content_key", flat=True))
    assert len(keys) == len(set(keys))
    trials = Study.objects.get(pk=bigger_study.pk).trials
    assert not trials.filter(panels__stimulus__isnull=True).exists()
    # No stray copies of a file (a storage would suffix a second save of the same name).
    # (Generated files live in stimuli/<key[:2]>/; other tests' hand-made stimuli sit at the top.)
    names = [p.stem for p in files_under(media_root, "stimuli") if p.parent != media_root / "stimuli"]
    assert all(re.fullmatch(r"[0-9a-f]{64}", n) for n in names)
    assert set(keys) <= set(names)
