"""Settings come from the environment, with SQLite and in-process Celery when it is empty."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "db_name": str(settings.DATABASES["default"]["NAME"]),
    "eager": getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False),
    "propagates": getattr(settings, "CELERY_TASK_EAGER_PROPAGATES", False),
    "broker": settings.CELERY_BROKER_URL,
    "backend": settings.CELERY_RESULT_BACKEND,
    "debug": settings.DEBUG,
    "secret": settings.SECRET_KEY,
    "hosts": settings.ALLOWED_HOSTS,
    "csrf": settings.CSRF_TRUSTED_ORIGINS,
    "media": str(settings.MEDIA_ROOT),
    "device": settings.TORCH_DEVICE,
    "tz": settings.TIME_ZONE,
    "acks_late": settings.CELERY_TASK_ACKS_LATE,
    "reject_lost": settings.CELERY_TASK_REJECT_ON_WORKER_LOST,
    "prefetch": settings.CELERY_WORKER_PREFETCH_MULTIPLIER,
    "serializer": settings.CELERY_TASK_SERIALIZER,
    "middleware": settings.MIDDLEWARE,
}))
"""


def read_settings(env: dict) -> dict:
    base = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings", "HOME": "/tmp"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_it_defaults_to_sqlite_and_in_process_tasks():
    s = read_settings({"DEBUG": "1"})
    assert s["engine"] == "django.db.backends.sqlite3"
    assert s["db_name"].endswith("var/db.sqlite3")
    assert s["eager"] is True and s["propagates"] is True
    assert s["device"] == "auto"
    assert s["tz"] == "UTC"
    assert s["secret"]  # the development key, only because DEBUG is on


def test_it_reads_services_and_options_from_the_environment():
    s = read_settings(
        {
            "SECRET_KEY": "k" * 50,
            "DATABASE_URL": "postgres://u:p@db.example:5433/studies",
            "CELERY_BROKER_URL": "redis://broker.example:6379/2",
            "ALLOWED_HOSTS": "studies.example.org,www.studies.example.org",
            "CSRF_TRUSTED_ORIGINS": "https://studies.example.org",
            "MEDIA_ROOT": "/srv/media",
            "TORCH_DEVICE": "cuda:1",
        }
    )
    assert s["engine"] == "django.db.backends.postgresql"
    assert s["db_name"] == "studies"
    assert s["eager"] is False
    assert s["broker"] == "redis://broker.example:6379/2"
    assert s["backend"] == "redis://broker.example:6379/2"
    assert s["debug"] is False
    assert s["secret"] == "k" * 50
    assert s["hosts"] == ["studies.example.org", "www.studies.example.org"]
    assert s["csrf"] == ["https://studies.example.org"]
    assert s["media"] == "/srv/media"
    assert s["device"] == "cuda:1"


def test_celery_is_configured_for_reliable_delivery():
    s = read_settings({"DEBUG": "1"})
    assert s["acks_late"] is True
    assert s["reject_lost"] is True
    assert s["prefetch"] == 1
    assert s["serializer"] == "json"
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in s["middleware"]


def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off():
    base = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings", "HOME": "/tmp"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env={**base, "DEBUG": "0"}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
