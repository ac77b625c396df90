"""A worker that dies mid-chunk leaves files without rows, never a row without its whole file; the chunk
redelivered creates each missing stimulus once, under its own name, and replaces a partial file."""

import dataclasses
import io
import re

import numpy as np
import pytest
from PIL import Image

from studies.models import Stimulus, Study
from studies.stimuli import generation
from studies.stimuli.configuration import known_methods
from studies.stimuli.content_keys import engine_versions, unit_for
from studies.tasks import cached_bundle

from .conftest import files_under, scenes_archive


class WorkerDied(BaseException):
    """Like the SIGKILL of a worker: nothing in the chunk may catch it."""


def dying_after(images: int):
    """The real network, whose worker dies while reading the chunk's `images`+1-th photograph."""
    seen = []

    def get_bundle(model):
        bundle = cached_bundle(model)

        def preprocess(pil):
            seen.append(1)
            if len(seen) > images:
                raise WorkerDied
            return bundle.preprocess(pil)

        return dataclasses.replace(bundle, preprocess=preprocess)

    return get_bundle


@pytest.fixture
def twelve_scene_study(db, media_root, strong_model):
    from studies.stimuli.imports import import_image_set

    images = import_image_set("twelve", io.BytesIO(scenes_archive(12, seed=9)))
    return Study.objects.create(
        name="Twelve",
        slug="twelve",
        kind="class_discrimination",
        methods=["gradcam", "guided_backprop"],
        model=strong_model,
        image_set=images,
        seed=6,
        attention_checks_per_participant=0,
    )


def assert_every_row_has_its_whole_files(media_root):
    for s in Stimulus.objects.all():
        assert s.png.name == f"stimuli/{s.content_key[:2]}/{s.content_key}.png"
        with Image.open(media_root / s.png.name) as im:
            im.load()  # a truncated PNG raises here
        assert s.raw_map.name == f"maps/{s.content_key[:2]}/{s.content_key}.npy"
        assert np.load(media_root / s.raw_map.name, allow_pickle=False).size > 0


@pytest.mark.django_db(transaction=True)
def test_a_chunk_redelivered_after_its_worker_died_mid_write_completes_with_each_stimulus_once(
    twelve_scene_study, media_root
):
    job = generation.do_start_generation(twelve_scene_study, enqueue=lambda job_id: None)
    (chunk,) = generation.do_plan(job.pk, cached_bundle)
    total = sum(len(item["units"]) for item in chunk["items"])
    assert total == 12 * 2 * 2

    # Batches of 3 images (a batch is cut when the next photograph is read): the worker dies reading
    # the 10th, with the first batch's rows in and the second batch's files handed to the write pool.
    with pytest.raises(WorkerDied):
        generation.do_process_chunk(chunk, dying_after(9), batch=3)
    made = set(Stimulus.objects.values_list("content_key", flat=True))
    assert len(made) == 3 * 2 * 2
    assert_every_row_has_its_whole_files(media_root)

    # A partial file under the name of a stimulus that has no row (a disk that filled up, say).
    images = {im.id: im for im in twelve_scene_study.image_set.images.all()}
    model, kinds, versions = twelve_scene_study.model, known_methods(), engine_versions()
    keys = [
        unit_for(twelve_scene_study, images[item["image_id"]], model, m, t, kinds, versions).key
        for item in chunk["items"]
        for m, t in item["units"]
    ]
    assert made < set(keys)
    partial_key = next(k for k in reversed(keys) if k not in made)
    partial = media_root / "stimuli" / partial_key[:2] / f"{partial_key}.png"
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"\x89PNG\r\n\x1a\n-truncated")

    counts = generation.do_process_chunk(chunk, cached_bundle, batch=3)
    assert counts == {"created": total - len(made), "existing": len(made), "failed": 0}
    assert sorted(Stimulus.objects.values_list("content_key", flat=True)) == sorted(keys)
    assert_every_row_has_its_whole_files(media_root)
    names = [p.name for p in files_under(media_root, "stimuli") if p.parent != media_root / "stimuli"]
    assert all(re.fullmatch(r"[0-9a-f]{64}\.png", n) for n in names), "a second save was given a suffix"
    job.refresh_from_db()
    assert (job.status, job.done, job.failed) == ("done", total, 0)
    assert Study.objects.get(pk=twelve_scene_study.pk).status == "ready"
