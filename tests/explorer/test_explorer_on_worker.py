"""The explorer's maps and a model analysis are computed by a real Celery worker on the `gpu` queue."""

import pytest

from tests.explorer.conftest import explorer_url

pytestmark = pytest.mark.worker


def test_a_worker_computes_the_explorer_maps_and_the_failure_modes(
    celery_worker, researcher_client, strong_model, scenes
):
    image = scenes.images.first()
    response = researcher_client.get(explorer_url(strong_model, f"item:{image.pk}", ("gradcam", "guided_backprop")))
    assert response.status_code == 200
    result = response.context["result"]
    assert result["computed"] == ["gradcam", "guided_backprop"] and len(result["rows"]) == 5
    key = result["rows"][0]["maps"][0]["key"]
    assert researcher_client.get(f"/staff/explorer/files/{key}/map.npy").status_code == 200
    assert "gpu_explore" in celery_worker.log_path.read_text()

    failures = researcher_client.get(f"/staff/models/{strong_model.pk}/failures/?image_set={scenes.pk}")
    analysis = failures.context["analysis"]
    assert analysis.status == "done" and analysis.provenance["kind"] == "failures"
