"""`make dev` runs the site with its real parts on this machine: gunicorn, one Celery worker, Postgres, Redis."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthz(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.loads(response.read())
    except OSError:
        return None


@pytest.fixture
def dev_database():
    """A database of its own for the dev server, dropped afterwards."""
    db = connection.settings_dict
    name = f"{db['NAME']}_dev"
    base = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}"
    drop = ["psql", f"{base}/postgres", "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)']
    subprocess.run(drop, check=True, capture_output=True)
    yield f"{base}/{name}"
    subprocess.run(drop, check=True, capture_output=True)


@pytest.mark.django_db
def test_make_dev_serves_the_site_with_a_worker_and_prints_its_settings(dev_database, tmp_path):
    from studies.tasks import gpu_probe

    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": "/tmp",
        "PY": sys.executable,
        "PORT": str(port),
        "DATABASE_URL": dev_database,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    log = open(tmp_path / "dev.log", "w+")
    proc = subprocess.Popen(
        ["bash", "scripts/dev.sh"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            health = healthz(f"http://127.0.0.1:{port}/healthz")
            if health:
                break
            time.sleep(0.5)
        assert health == {"status": "ok", "database": "ok", "broker": "ok"}, (tmp_path / "dev.log").read_text()
        # The worker it started takes GPU tasks from the broker.
        assert gpu_probe.delay().get(timeout=120)["torch"]
        output = (tmp_path / "dev.log").read_text()
        for line in (f"DATABASE_URL={dev_database}", f"CELERY_BROKER_URL={settings.CELERY_BROKER_URL}", "DEBUG=1"):
            assert line in output
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
