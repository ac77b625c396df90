"""Production settings pass Django's deployment checks and send the security headers."""

import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/tmp",
    "DEBUG": "0",
    "ALLOWED_HOSTS": "studies.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://studies.example.org",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "BEHIND_HTTPS_PROXY": "1",
}


def test_production_settings_pass_check_deploy_with_no_warnings():
    env = {**PRODUCTION_ENV, "SECRET_KEY": secrets.token_urlsafe(60)}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_every_response_carries_nosniff_and_referrer_policy(client):
    response = client.get("/")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
@override_settings(SECURE_HSTS_SECONDS=31536000)
def test_hsts_is_sent_over_https(client):
    response = client.get("/", secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "Strict-Transport-Security" not in client.get("/")


def env_example() -> dict:
    lines = (ROOT / ".env.example").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if line.strip() and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def manage_check_deploy(env: dict):
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_shipped_env_example_with_its_own_key_passes_check_deploy():
    result = manage_check_deploy({**env_example(), "SECRET_KEY": secrets.token_urlsafe(50)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (env_example()["SECRET_KEY"], "published placeholder"),
        ("change-me-to-a-long-random-string", "published placeholder"),
        ("test-secret-key-not-for-production", "published placeholder"),
        (secrets.token_urlsafe(30), "shorter than 50 characters"),
    ],
)
def test_it_refuses_to_start_with_a_placeholder_or_short_secret_key(key, reason):
    result = manage_check_deploy({**env_example(), "SECRET_KEY": key})
    assert result.returncode != 0
    assert reason in result.stderr


def test_a_short_key_is_still_accepted_on_a_development_machine():
    result = manage_check_deploy({"DEBUG": "1", "SECRET_KEY": "short"})  # check --deploy warns, settings load
    assert "ImproperlyConfigured" not in result.stderr and "security.W009" in result.stderr + result.stdout


@pytest.mark.django_db
def test_the_csrf_cookie_is_http_only(client):
    response = client.get("/admin/login/")
    assert response.cookies["csrftoken"]["httponly"] is True
