"""The study form takes bias detection's declarations as JSON settings (a kind setting may be text or
JSON), stores them in the study's kind settings, and refuses an image set too small for the sets with
the counts, writing nothing."""

import json

import pytest

from studies.models import Study
from tests.support import factories

pytestmark = pytest.mark.django_db


def form(first, second, image_set, **settings):
    truth = {first.name: {"cat": "stripes"}, second.name: {"cat": "object"}}
    data = {
        "name": "Bias",
        "slug": "bias-form",
        "kind": "bias_detection",
        "methods": ["gradcam"],
        "design": "between",
        "model": first.pk,
        "weaker_model": second.pk,
        "image_set": image_set.pk,
        "render_style": "auto",
        "trials_per_participant": 4,
        "target_participants_per_condition": 5,
        "seed": 1,
        "attention_checks_per_participant": 0,
        "max_failed_attention_checks": 0,
        "min_median_rt_ms": 0,
        "inactivity_timeout_minutes": 30,
        "min_window_width": 0,
        "min_window_height": 0,
        "bias_detection__images_per_set": 2,
        "bias_detection__sets_per_class": 2,
        "bias_detection__cues": json.dumps(factories.BIAS_CUES),
        "bias_detection__ground_truth": json.dumps(truth),
    }
    return {**data, **{f"bias_detection__{k}": v for k, v in settings.items()}}


def test_the_declarations_are_saved_from_the_form(researcher_client):
    first, second = factories.make_classifier(), factories.make_classifier()
    images = factories.make_image_set(30)
    response = researcher_client.post("/admin/studies/study/add/", form(first, second, images), follow=True)
    assert response.status_code == 200
    study = Study.objects.get(slug="bias-form")
    assert study.kind_settings["cues"] == factories.BIAS_CUES
    assert study.kind_settings["ground_truth"] == {first.name: {"cat": "stripes"}, second.name: {"cat": "object"}}


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"sets_per_class": 3}, "needs 12 images of cat"),
        ({"cues": "[{"}, "Enter a valid JSON"),
        ({"cues": json.dumps([{"name": "cannot_tell", "label": "x"}])}, "answer of its own"),
    ],
)
def test_a_bad_declaration_is_a_form_error_and_writes_nothing(researcher_client, settings, message):
    first, second = factories.make_classifier(), factories.make_classifier()
    images = factories.make_image_set(30)  # 10 images of cat
    response = researcher_client.post("/admin/studies/study/add/", form(first, second, images, **settings))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Study.objects.exists()
