"""Stimuli and static files, served before Django's views, carry the same security headers."""

import pytest
from django.test import Client, override_settings

from config.media import StimulusFiles

from .test_stimulus_serving import call, fallback

EXPECTED = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"}


def assert_security_headers(headers, hsts: bool):
    for name, value in EXPECTED.items():
        assert headers.get(name) == value, (name, headers)
    if hsts:
        assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    else:
        assert "Strict-Transport-Security" not in headers


@pytest.mark.parametrize("hsts_seconds", [0, 31536000])
def test_stimuli_carry_the_security_headers(tmp_path, hsts_seconds):
    (tmp_path / "stimuli").mkdir()
    (tmp_path / "stimuli" / "ef56.png").write_bytes(b"\x89PNG stimulus")
    with override_settings(SECURE_HSTS_SECONDS=hsts_seconds):
        status, headers, _ = call(StimulusFiles(fallback, tmp_path, "/media/"), "/media/stimuli/ef56.png")
    assert status.startswith("200")
    assert_security_headers(headers, hsts=bool(hsts_seconds))


@pytest.mark.django_db
@pytest.mark.parametrize("hsts_seconds", [0, 31536000])
def test_static_files_carry_the_security_headers(hsts_seconds):
    with override_settings(SECURE_HSTS_SECONDS=hsts_seconds):
        response = Client().get("/static/css/participant.css", secure=True)  # a new middleware chain
        assert response.status_code == 200
        assert_security_headers(response.headers, hsts=bool(hsts_seconds))
