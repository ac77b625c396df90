"""The commands the demo prints run exactly as printed, in a shell with nothing else set."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from studies.demo import bots_command
from studies.models import Participant
from tests.support import factories

ROOT = Path(__file__).resolve().parents[1]
BARE = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}


def test_manage_py_runs_from_a_checkout_with_no_environment_as_make_demo_does():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=BARE, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "SECRET_KEY is not set" not in result.stderr


@pytest.mark.django_db(transaction=True)
def test_the_printed_bots_command_runs_as_printed(monkeypatch, tmp_path):
    study = factories.make_class_discrimination_study()
    db = connection.settings_dict
    # The demo runs with DEBUG on against its database; here that database is the test database.
    monkeypatch.setenv("DEBUG", "1")
    monkeypatch.setenv("DATABASE_URL", f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}")
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    monkeypatch.chdir(ROOT)
    command = bots_command(study.slug, n=2)
    assert command.split()[0] == "DEBUG=1" and " manage.py simulate_participants " in command
    result = subprocess.run(command, shell=True, cwd=ROOT, env=BARE, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert Participant.objects.filter(study=study, is_simulated=True).count() == 2
