"""With no broker configured, tasks run in-process, quietly: no kombu warning on every task."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import django
django.setup()
from config.celery import app

@app.task(name="probe.noop")
def noop():
    return 41 + 1

print("result", noop.delay().get())
"""


def test_an_in_process_task_runs_without_the_no_hostname_warning():
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "result 42" in result.stdout
    assert "No hostname was supplied" not in result.stdout + result.stderr
