"""The explorer shows every (class, method) map of an image, with scores and downloadable files."""

import io

import numpy as np

from explain_engine import METHODS
from tests.explorer.conftest import explorer_url


def test_the_form_lists_every_method_of_the_engine_registry(researcher_client, strong_model):
    page = researcher_client.get("/staff/explorer/").content.decode()
    for name in METHODS:
        assert f'value="{name}"' in page
    assert "counterfactual_gradcam" in page


def test_it_shows_the_top_five_classes_by_default_with_every_chosen_method(researcher_client, strong_model, scenes):
    image = scenes.images.first()
    methods = ("gradcam", "guided_backprop", "guided_gradcam", "counterfactual_gradcam")
    response = researcher_client.get(explorer_url(strong_model, f"item:{image.pk}", methods))
    assert response.status_code == 200
    result = response.context["result"]
    assert len(result["rows"]) == 5
    assert [t["class"] for t in result["top"]] == result["classes"]
    for row in result["rows"]:
        assert [t["method"] for t in row["maps"]] == list(methods)
        assert all(not t["error"] for t in row["maps"])
    page = response.content.decode()
    assert page.count('data-testid="explorer-tile"') == 20


def test_a_tile_downloads_as_png_and_as_the_raw_float_map(researcher_client, strong_model, scenes):
    image = scenes.images.first()
    url = explorer_url(strong_model, f"item:{image.pk}", ("gradcam", "guided_backprop"), classes="star,ring")
    result = researcher_client.get(url).context["result"]
    cam, guided = result["rows"][0]["maps"]
    png = researcher_client.get(f"/staff/explorer/files/{cam['key']}/overlay.png?download=1")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert b"".join(png.streaming_content).startswith(b"\x89PNG")
    raw = np.load(
        io.BytesIO(b"".join(researcher_client.get(f"/staff/explorer/files/{cam['key']}/map.npy").streaming_content))
    )
    assert raw.dtype == np.float32 and raw.shape == (128, 128)
    grad = np.load(
        io.BytesIO(b"".join(researcher_client.get(f"/staff/explorer/files/{guided['key']}/map.npy").streaming_content))
    )
    assert grad.shape == (3, 128, 128)


def test_the_layer_can_be_switched_to_any_convolution(researcher_client, strong_model, scenes):
    image = scenes.images.first()
    first = researcher_client.get(explorer_url(strong_model, f"item:{image.pk}", ("gradcam",), classes="star"))
    result = first.context["result"]
    assert result["layer"] == strong_model.target_layer
    assert result["layers"] == ["features.0", "features.4", "features.8", "features.11", "features.13"]
    shallow = researcher_client.get(
        explorer_url(strong_model, f"item:{image.pk}", ("gradcam",), classes="star", layer="features.4")
    ).context["result"]
    assert shallow["layer"] == "features.4"
    assert shallow["rows"][0]["maps"][0]["key"] != result["rows"][0]["maps"][0]["key"]
