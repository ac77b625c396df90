"""A control-arm panel (method design.NO_EXPLANATION) is the photograph as the network sees it, made
without the engine (no network is loaded for it, no raw map), with its provenance like the
attention-check crops: engine version design.NO_ENGINE and a recipe version of its own."""

import io

import numpy as np
import pytest
from PIL import Image

from studies import design
from studies.kinds import kind_of
from studies.models import Stimulus, Trial
from studies.stimuli import generation
from studies.stimuli.content_keys import PLAIN_PHOTO_RECIPE
from studies.stimuli.geometry import model_geometry
from studies.tasks import cached_bundle


@pytest.fixture
def cd_with_control(cd_study, monkeypatch):
    monkeypatch.setattr(type(kind_of(cd_study)), "supports_control_arm", True)
    cd_study.control_arm = True
    cd_study.save()
    return cd_study


def no_network(model):
    raise AssertionError(f"a control-arm panel must not load {model.name}")


@pytest.mark.django_db(transaction=True)
def test_control_arm_panels_are_the_photograph_without_the_engine(cd_with_control):
    study = cd_with_control
    job = generation.do_start_generation(study, enqueue=lambda job_id: None)
    chunks = generation.do_plan(job.pk, cached_bundle)
    assert set(Trial.objects.filter(study=study, kind="main").values_list("method", flat=True)) == set(study.arms)
    for chunk in chunks:
        # The photographs alone first, with no network to load; then the chunk as planned.
        items = [{**it, "units": [u for u in it["units"] if u[0] == design.NO_EXPLANATION]} for it in chunk["items"]]
        generation.do_process_chunk({**chunk, "items": items}, no_network)
        generation.do_process_chunk(chunk, cached_bundle)
    job.refresh_from_db()
    assert job.status == "done" and job.failed == 0

    photos = Stimulus.objects.filter(method=design.NO_EXPLANATION)
    assert photos.count() == Trial.objects.filter(study=study, method=design.NO_EXPLANATION).count() > 0
    for s in photos:
        assert (s.engine_version, s.recipe_version, s.render_style) == (design.NO_ENGINE, PLAIN_PHOTO_RECIPE, "photo")
        assert not s.raw_map and s.provenance["display"]["mode"] == model_geometry(s.model).mode
        with s.image.file.open("rb") as fh:
            shown = model_geometry(s.model).apply(Image.open(fh).convert("RGB"))
        with s.png.open("rb") as fh:
            assert np.array_equal(np.asarray(Image.open(io.BytesIO(fh.read())).convert("RGB")), np.asarray(shown))
    # The methods' own stimuli are the engine's, as without a control arm.
    assert not Stimulus.objects.exclude(method__in=[design.NO_EXPLANATION, design.ATTENTION_CROP]).filter(
        engine_version=design.NO_ENGINE
    )
