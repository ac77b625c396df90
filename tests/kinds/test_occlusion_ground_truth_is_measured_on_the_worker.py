"""The occlusion 2-AFC ground truth is the network's own, measured on the worker when generation
plans the bank (the Celery path): each trial's stored occluded scores are the shipped demo network's
softmax scores with that region occluded (by the mean colour or a blur, as the setting says), its
answer is the region whose occlusion lowers the score more, the map's mass per region is that of
the stimulus the participant sees, and the provenance says how it was measured. A network whose
confidence no occlusion moves is refused at planning, with the counts."""

import io

import numpy as np
import pytest

from explain_engine.metrics import map_mass, region_scores
from studies.kinds.occlusion_2afc import on_grid, region_share
from studies.models import GenerationFailure, Study, Trial
from studies.stimuli import generation
from studies.stimuli.media_cache import photograph_rgb

from ..studies_admin.conftest import media_root, save_random_net  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)


def bundle_of():
    from studies.tasks import cached_bundle

    return cached_bundle


@pytest.fixture
def demo_world(media_root):  # noqa: F811
    from explain_engine.demo_train import load_shipped_demo_models
    from explain_engine.synthetic import CLASSES
    from studies.demo import demo_image_zip
    from studies.stimuli.imports import import_image_set
    from studies.stimuli.registry import register_model

    manifest = load_shipped_demo_models(progress=None)
    model = register_model(
        "occlusion-strong", "shapes_strong", checkpoint=manifest["paths"]["shapes_strong"], categories=list(CLASSES)
    )
    images = import_image_set("occlusion-scenes", io.BytesIO(demo_image_zip(n=16, seed=3)))
    return model, images


def occlusion_study(model, images, **settings):
    return Study.objects.create(
        name="Occlusion",
        slug=f"occlusion-{len(settings)}-{model.pk}",
        kind="occlusion_2afc",
        methods=["gradcam"],
        design="between",
        model=model,
        image_set=images,
        trials_per_participant=4,
        seed=11,
        attention_checks_per_participant=1,
        kind_settings={"min_score_difference": 0.05, **settings},
    )


@pytest.mark.parametrize("baseline", ["mean", "blur"])
def test_the_stored_truth_is_the_networks_score_with_each_region_occluded(demo_world, baseline):
    model, images = demo_world
    study = occlusion_study(model, images, occlusion_baseline=baseline)
    job = generation.do_start_generation(study, enqueue=lambda job_id: None)
    chunks = generation.do_plan(job.pk, bundle_of())
    assert chunks, list(GenerationFailure.objects.values_list("reason", flat=True))
    for chunk in chunks:
        generation.do_process_chunk(chunk, bundle_of())
    study.refresh_from_db()
    assert study.status == "ready" and study.surviving_image_count >= 4

    bundle = bundle_of()(model)
    trials = list(Trial.objects.filter(study=study).select_related("image").prefetch_related("panels__stimulus"))
    assert any(t.kind == "attention" for t in trials)
    for trial in trials:
        p = trial.payload
        truth = p["ground_truth"]
        assert truth["baseline"] == baseline and truth["score"] == "softmax"
        assert truth["weights_sha256"] == model.weights_sha256 and truth["patch_size"] == 0.25
        x = bundle.preprocess(photograph_rgb(trial.image))
        shape = tuple(x.shape[-2:])
        index = model.categories.index(trial.target_class)
        regions = [on_grid(p["regions"][r], shape) for r in ("A", "B")]
        score, (a, b) = region_scores(
            bundle.module, x, index, regions, truth["baseline"], truth["blur_sigma_px"] or 4.0, "softmax"
        )
        assert score == pytest.approx(p["class_score"], abs=1e-4)
        assert (a, b) == pytest.approx((p["occluded_scores"]["A"], p["occluded_scores"]["B"]), abs=1e-4)
        assert p["answer"] == ("A" if a < b else "B") and abs(a - b) >= 0.05 - 1e-4
        if trial.kind == "main":
            # The map mass that decides agreement is the one of the stimulus shown.
            stimulus = trial.panels.get().stimulus
            with stimulus.raw_map.open("rb") as fh:
                mass = map_mass(np.load(fh))
            shares = {r: region_share(mass, p["regions"][r]) for r in ("A", "B")}
            assert shares == pytest.approx(p["map_mass"], abs=1e-5)
    main = [t for t in trials if t.kind == "main"]
    agree = sum(t.payload["map_agrees"] for t in main)
    assert 0 < agree < len(main)  # as balanced as the images allow: see test_occlusion_banks_balance_map_agreement


def test_a_network_no_occlusion_moves_is_refused_at_planning_with_the_counts(media_root, tmp_path):  # noqa: F811
    from explain_engine.synthetic import CLASSES
    from studies.demo import demo_image_zip
    from studies.stimuli.imports import import_image_set
    from studies.stimuli.registry import register_model

    # A random network with one class's bias raised: it is sure of "circle" whatever is hidden.
    path = save_random_net(tmp_path / "sure.pt", "shapes_strong", seed=1, favour="circle", categories=CLASSES)
    model = register_model("sure", "shapes_strong", checkpoint=str(path), categories=list(CLASSES))
    images = import_image_set("sure-scenes", io.BytesIO(demo_image_zip(n=6, seed=3)))
    study = occlusion_study(model, images)
    job = generation.do_start_generation(study, enqueue=lambda job_id: None)
    assert generation.do_plan(job.pk, bundle_of()) == []
    job.refresh_from_db()
    study.refresh_from_db()
    assert job.status == "failed" and study.status == "draft"
    (reason,) = GenerationFailure.objects.filter(job=job).values_list("reason", flat=True)
    assert "only 0 of" in reason and "minimum score difference" in reason and "participants need 4" in reason
    assert not Trial.objects.filter(study=study).exists()
