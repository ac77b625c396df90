"""Stimuli are served in front of Django with long cache headers; other media are not public."""

from pathlib import Path

import pytest
from django.core.signals import request_started
from django.test import override_settings

from config.media import StimulusFiles


def call(app, path):
    captured = {}

    def start_response(status, headers):
        captured["status"] = status
        captured["headers"] = dict(headers)

    body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": "GET", "wsgi.input": None}, start_response))
    return captured["status"], captured["headers"], body


@pytest.fixture
def media(tmp_path):
    (tmp_path / "stimuli").mkdir()
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "photo.png").write_bytes(b"\x89PNG secret photograph")
    return tmp_path


def fallback(environ, start_response):
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"django"]


def test_a_stimulus_made_after_start_up_is_served_with_year_long_caching(media):
    app = StimulusFiles(fallback, media, "/media/")
    (media / "stimuli" / "ab12.png").write_bytes(b"\x89PNG stimulus")  # generated while the site runs
    status, headers, body = call(app, "/media/stimuli/ab12.png")
    assert status.startswith("200")
    assert body == b"\x89PNG stimulus"
    assert "max-age=31536000" in headers["Cache-Control"]
    assert "immutable" in headers["Cache-Control"]
    assert headers["Content-Type"] == "image/png"


def test_photographs_and_paths_outside_the_stimuli_folder_are_not_served(media):
    app = StimulusFiles(fallback, media, "/media/")
    for path in ("/media/images/photo.png", "/media/stimuli/../images/photo.png", "/media/stimuli/missing.png"):
        status, _, body = call(app, path)
        assert status.startswith("404"), path
        assert body == b"django"


@pytest.mark.django_db
def test_the_wsgi_application_serves_stimuli_without_entering_django(settings, tmp_path):
    from django.core.wsgi import get_wsgi_application

    from config.media import wrap

    settings.MEDIA_ROOT = str(tmp_path)
    (Path(tmp_path) / "stimuli").mkdir()
    (Path(tmp_path) / "stimuli" / "cd34.png").write_bytes(b"\x89PNG x")
    started = []
    request_started.connect(started.append)
    try:
        with override_settings(SERVE_STIMULI_WITHOUT_DJANGO=True):
            app = wrap(get_wsgi_application())  # what config/wsgi.py serves
            status, headers, _ = call(app, "/media/stimuli/cd34.png")
    finally:
        request_started.disconnect(started.append)
    assert status.startswith("200")
    assert started == []
