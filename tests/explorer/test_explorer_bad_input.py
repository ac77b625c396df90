"""Bad explorer input gets a clear message and a 4xx, and stores nothing beyond the cache."""

import io
from pathlib import Path

from django.conf import settings
from PIL import Image

from studies.tools import explorer
from tests.explorer.conftest import explorer_url


def stored_under(folder: str) -> set[Path]:
    root = Path(settings.MEDIA_ROOT) / "explorer" / folder
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def post_upload(client, model, name, data):
    upload = io.BytesIO(data)
    upload.name = name
    return client.post("/staff/explorer/", {"model": model.pk, "upload": upload, "methods": ["gradcam"]})


def test_it_refuses_a_file_that_is_not_an_image(researcher_client, strong_model):
    response = post_upload(researcher_client, strong_model, "notes.png", b"these are not pixels")
    assert response.status_code == 400
    assert "not an image" in response.context["error"]
    assert stored_under("uploads") == set()


def test_it_refuses_an_oversized_upload(researcher_client, strong_model):
    response = post_upload(researcher_client, strong_model, "big.png", b"\x89PNG" + b"0" * explorer.MAX_UPLOAD_BYTES)
    assert response.status_code == 400
    assert "at most 10 MB" in response.context["error"]
    assert stored_under("uploads") == set()


def test_an_uploaded_image_is_explained_after_a_redirect(researcher_client, strong_model):
    buf = io.BytesIO()
    Image.new("RGB", (128, 128), (200, 30, 30)).save(buf, format="PNG")
    response = post_upload(researcher_client, strong_model, "red.png", buf.getvalue())
    assert response.status_code == 302 and "image=upload%3A" in response["Location"]
    page = researcher_client.get(response["Location"])
    assert page.status_code == 200 and len(page.context["result"]["rows"]) == 5


def test_it_refuses_a_class_the_model_does_not_have(researcher_client, strong_model, scenes):
    image = scenes.images.first()
    response = researcher_client.get(explorer_url(strong_model, f"item:{image.pk}", classes="star,hexagon"))
    assert response.status_code == 400
    assert "has no class 'hexagon'" in response.context["error"]
    assert stored_under("tiles") == set()


def test_it_refuses_a_layer_that_is_not_a_convolution_of_the_model(researcher_client, strong_model, scenes):
    image = scenes.images.first()
    response = researcher_client.get(explorer_url(strong_model, f"item:{image.pk}", layer="classifier"))
    assert response.status_code == 400
    assert "no convolutional layer 'classifier'" in response.context["error"]
    assert stored_under("tiles") == set()


def test_it_refuses_an_unknown_method_and_a_missing_image(researcher_client, strong_model, scenes):
    image = scenes.images.first()
    bad_method = researcher_client.get(explorer_url(strong_model, f"item:{image.pk}", methods=("gradcam", "magic")))
    assert bad_method.status_code == 400 and "magic" in bad_method.context["error"]
    missing = researcher_client.get(explorer_url(strong_model, "upload:" + "0" * 64))
    assert missing.status_code == 400 and "upload it again" in missing.context["error"]
    assert stored_under("tiles") == set()


def test_guided_methods_that_refuse_the_model_say_why_beside_the_maps_that_work(
    researcher_client, hardswish_model, scenes
):
    image = scenes.images.first()
    url = explorer_url(hardswish_model, f"item:{image.pk}", methods=("gradcam", "guided_backprop"), classes="star")
    response = researcher_client.get(url)
    assert response.status_code == 200
    cam, guided = response.context["result"]["rows"][0]["maps"]
    assert cam["error"] == ""
    assert "Hardswish" in guided["error"] and "only ReLU is supported" in guided["error"]
    assert "only ReLU is supported" in response.content.decode()
