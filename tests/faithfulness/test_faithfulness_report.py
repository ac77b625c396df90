"""The automatic evaluations of a study's methods, on a real worker, beside the human results."""

import io
import math

import numpy as np
import pytest
from django.core.management import call_command
from django.urls import reverse

from explain_engine import metrics
from explain_engine.demo_nets import DEMO_ARCHITECTURES
from studies.models import FaithfulnessReport, Study
from studies.results import faithfulness


def test_gradient_maps_become_saliency_by_their_absolute_channel_sum():
    raw = np.zeros((3, 2, 2))
    raw[0, 0, 0], raw[1, 0, 0], raw[2, 1, 1] = 1.0, -2.0, 0.5
    assert faithfulness.saliency_2d(raw).tolist() == [[3.0, 0.0], [0.0, 0.5]]
    cam = np.array([[0.0, 1.0], [2.0, 3.0]])
    assert faithfulness.saliency_2d(cam).tolist() == cam.tolist()


def test_boxes_follow_the_image_to_the_map_resolution():
    assert faithfulness.scale_boxes([(10, 20, 50, 60)], (200, 100), (50, 100)) == [(5, 10, 25, 30)]
    assert faithfulness.scale_boxes([(0, 0, 1, 1)], (128, 128), (16, 16)) == [(0, 0, 1, 1)]  # never empty


@pytest.mark.worker
def test_a_worker_reports_every_method_and_the_results_page_shows_it(
    celery_worker, cd_study, researcher_client, capsys
):
    call_command("generate_stimuli", cd_study.slug, "--inline")
    study = Study.objects.get(pk=cd_study.pk)
    call_command("faithfulness", study.slug, "--max-images", "3", "--sanity-images", "1")
    out = capsys.readouterr().out
    report = FaithfulnessReport.objects.get(study=study)
    assert report.status == "done", report.error
    summary = report.results["summary"]["model"]
    assert set(summary) == set(study.methods)
    for values in summary.values():
        assert values["n"] == 3
        assert 0.0 <= values["pointing_game"] <= 1.0 and 0.0 <= values["localization_iou"] <= 1.0
        assert -1.0 <= values["occlusion_rho"] <= 1.0
        assert 0.0 <= values["deletion_auc"] <= 1.0 and 0.0 <= values["insertion_auc"] <= 1.0
        assert 0.0 <= values["road_morf"] <= 1.0 and 0.0 <= values["road_lerf"] <= 1.0
        assert 0.0 <= values["average_drop"] <= 100.0 and 0.0 <= values["increase_in_confidence"] <= 100.0
        assert -1.0 <= values["faithfulness_corr"] <= 1.0 and 0.0 <= values["gini"] <= 1.0
        assert 0.0 <= values["energy_pointing_game"] <= 1.0
    params = report.results["parameters"]
    assert params["metrics"]["version"] == faithfulness.METRICS_VERSION
    assert params["metrics"]["road"]["percentages"] == list(faithfulness.ROAD_PERCENTAGES)
    assert params["metrics"]["seed"] == params["sanity"]["seed"] == study.seed
    # The sanity checks: every method, a curve point per recorded randomization step, all layers reset.
    sanity = report.results["sanity"]["model"]
    net = DEMO_ARCHITECTURES[study.model.arch](len(study.model.categories))
    bottom_layer = metrics.randomization_layers(net)[-1]
    assert set(sanity) == set(study.methods)
    for values in sanity.values():
        assert values["n"] == 1 and len(values["layers"]) <= faithfulness.SANITY_MAX_STEPS
        assert len(values["spearman"]) == len(values["ssim"]) == len(values["smooth_ssim"]) == len(values["layers"])
        assert values["layers"][-1] == bottom_layer  # the cascade ends with every layer randomized
        assert -1.0 <= values["ssim"][-1] <= 1.0 and values["random_logit"] is not None
    for method in study.methods:
        assert method in out
    assert "Sanity checks, " in out and "random logit" in out

    # the numbers are explain_engine's metrics applied to the stored raw maps
    row = report.results["rows"][0]
    stimulus = (
        study.trials.filter(image__filename=row["image"], target_class=row["target_class"], method=row["method"])
        .first()
        .panels.get()
        .stimulus
    )
    raw = np.load(io.BytesIO(stimulus.raw_map.open("rb").read()))
    image = stimulus.image
    boxes = faithfulness.scale_boxes(image.boxes_for(row["target_class"]), (image.width, image.height), (128, 128))
    sal = faithfulness.saliency_2d(raw)
    assert row["pointing_game"] == float(metrics.pointing_game(sal, np.asarray(boxes)))
    assert math.isclose(row["localization_iou"], metrics.localization_iou(sal, boxes))

    page = researcher_client.get(reverse("studies:study-results", kwargs={"study_id": study.pk}))
    assert page.status_code == 200
    assert b'data-testid="faithfulness"' in page.content
    assert b'data-testid="faithfulness-more"' in page.content
    for method in study.methods:
        assert f'data-testid="sanity-{method}"'.encode() in page.content
    for method in study.methods:
        assert method.encode() in page.content


def test_only_staff_can_request_a_report(client, outsider_client, db):
    study = Study.objects.create(name="F", slug="f", methods=["gradcam"])
    url = reverse("studies:study-faithfulness-run", kwargs={"study_id": study.pk})
    for c in (client, outsider_client):
        response = c.post(url)
        assert response.status_code == 302 and "/admin/login/" in response.url
    assert FaithfulnessReport.objects.count() == 0
