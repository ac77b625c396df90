"""Only stimuli are public media, with DEBUG on or off; staff see photographs and raw maps through a staff view."""

from __future__ import annotations

import importlib
import io

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import clear_url_caches

from tests.support import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def stimulus():
    study = factories.make_class_discrimination_study()
    return factories.with_raw_map(factories.first_stimulus(study))


def test_staff_open_photographs_and_raw_maps_with_debug_off_and_nobody_else_can(researcher_client, stimulus, settings):
    assert settings.DEBUG is False
    image_url = f"/staff/images/{stimulus.image_id}/file"
    map_url = f"/staff/stimuli/{stimulus.pk}/raw-map.npy"
    photo = researcher_client.get(image_url)
    assert photo.status_code == 200 and photo["Content-Type"] == "image/png"
    assert b"".join(photo.streaming_content) == stimulus.image.file.open("rb").read()
    assert "private" in photo["Cache-Control"]
    raw = researcher_client.get(map_url)
    assert raw.status_code == 200
    assert np.load(io.BytesIO(b"".join(raw.streaming_content))).shape == (4, 4)
    anonymous, outsider = Client(), Client()
    outsider.force_login(User.objects.create_user("otto", password="otto-password-123"))
    for other in (anonymous, outsider):
        for url in (image_url, map_url):
            response = other.get(url)
            assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_admin_and_the_provenance_page_link_photographs_and_raw_maps_through_the_staff_view(
    researcher_client, stimulus
):
    image_url = f"/staff/images/{stimulus.image_id}/file"
    provenance = researcher_client.get(f"/staff/stimuli/{stimulus.pk}/").content.decode()
    assert f'src="{image_url}"' in provenance
    assert f'href="/staff/stimuli/{stimulus.pk}/raw-map.npy"' in provenance
    assert stimulus.image.file.url not in provenance and stimulus.raw_map.url not in provenance
    listing = researcher_client.get("/admin/studies/imageitem/").content.decode()
    assert f'src="{image_url}"' in listing
    change = researcher_client.get(f"/admin/studies/imageitem/{stimulus.image_id}/change/").content.decode()
    assert f'href="{image_url}"' in change and stimulus.image.file.url not in change
    stimulus_page = researcher_client.get(f"/admin/studies/stimulus/{stimulus.pk}/change/").content.decode()
    assert f'href="/staff/stimuli/{stimulus.pk}/raw-map.npy"' in stimulus_page


@pytest.fixture
def debug_urls(settings):
    """The URLs as the demo (DEBUG on) builds them."""
    import config.urls

    settings.DEBUG = True
    importlib.reload(config.urls)
    clear_url_caches()
    yield
    settings.DEBUG = False
    importlib.reload(config.urls)
    clear_url_caches()


def test_with_debug_on_only_stimuli_are_public(stimulus, media_files, debug_urls):
    client = Client()
    checkpoint = media_files.save("checkpoints/abc123.pt", ContentFile(b"weights"))
    assert client.get(stimulus.png.url).status_code == 200
    for url in (stimulus.image.file.url, stimulus.raw_map.url, f"/media/{checkpoint}"):
        assert client.get(url).status_code == 404, url


@pytest.fixture
def media_files():
    from django.core.files.storage import default_storage

    return default_storage
