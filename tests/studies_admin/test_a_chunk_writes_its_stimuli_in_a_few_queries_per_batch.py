"""A chunk's database work is a few queries per batch, not an existence query and an insert per stimulus."""

import io

import pytest

from studies.models import Stimulus, Study
from studies.stimuli import generation
from studies.tasks import cached_bundle

from .conftest import scenes_archive


@pytest.fixture
def sixteen_scene_study(db, media_root, strong_model):
    from studies.stimuli.imports import import_image_set

    images = import_image_set("sixteen", io.BytesIO(scenes_archive(16, seed=5)))
    return Study.objects.create(
        name="Sixteen",
        slug="sixteen",
        kind="class_discrimination",
        methods=["gradcam", "guided_backprop", "guided_gradcam"],
        model=strong_model,
        image_set=images,
        seed=4,
        attention_checks_per_participant=0,
    )


@pytest.mark.django_db(transaction=True)
def test_a_chunk_of_96_stimuli_takes_a_bounded_number_of_queries(sixteen_scene_study, django_assert_max_num_queries):
    job = generation.do_start_generation(sixteen_scene_study, enqueue=lambda job_id: None)
    (chunk,) = generation.do_plan(job.pk, cached_bundle)
    stimuli = sum(len(item["units"]) for item in chunk["items"])
    assert stimuli == 16 * 2 * 3
    cached_bundle(sixteen_scene_study.model)  # loading the network is not the chunk's work
    # Two batches of 8 images: one insert each (BEGIN, INSERT, COMMIT), plus the chunk's fixed work
    # (the study, model and images, one existence query, linking the trials, recounting the job):
    # 28 queries, where one existence query and one insert per stimulus made 421.
    with django_assert_max_num_queries(30):
        counts = generation.do_process_chunk(chunk, cached_bundle)
    assert counts == {"created": stimuli, "existing": 0, "failed": 0}
    assert Stimulus.objects.count() == stimuli
    job.refresh_from_db()
    assert (job.status, job.done, job.failed) == ("done", stimuli, 0)
