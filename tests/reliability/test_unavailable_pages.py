"""When the site cannot answer, a participant gets a page that says the answers are safe and
reloads itself, not Django's bare "Server Error (500)"."""

import pytest
from django.db import OperationalError
from django.test import Client
from django.urls import reverse

from studies import health
from studies.participants import flow as p
from tests.support import factories

pytestmark = pytest.mark.django_db


def assert_reassuring_page(response, status):
    assert response.status_code == status
    html = response.content.decode()
    assert "Your answers so far are safe" in html and "try again by itself" in html
    assert '<meta http-equiv="refresh" content="5">' in html
    assert response["Retry-After"] == "5"
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert "no-store" in response["Cache-Control"]


@pytest.fixture
def trial_url():
    study = factories.make_class_discrimination_study()
    return reverse("studies:participant-trial", args=[study.slug])


def test_a_database_outage_gets_the_503_page(trial_url, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1 failed")

    monkeypatch.setattr(p, "find_by_token", down)
    assert_reassuring_page(Client().get(trial_url), 503)


def test_any_other_failure_gets_the_500_page(trial_url, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a defect")

    monkeypatch.setattr(p, "find_by_token", broken)
    assert_reassuring_page(Client(raise_request_exception=False).get(trial_url), 500)


def test_the_health_check_shows_the_503_page_to_a_browser_and_json_to_a_probe(monkeypatch):
    monkeypatch.setattr(health, "database_status", lambda: "error: OperationalError")
    assert_reassuring_page(Client().get("/healthz", headers={"Accept": "text/html"}), 503)
    probe = Client().get("/healthz")
    assert probe.status_code == 503 and probe.json()["database"] == "error: OperationalError"
