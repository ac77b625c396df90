"""In a real Chromium: PostgreSQL stops under an open trial page, and the page recovers by itself."""

import os
import subprocess
from pathlib import Path

import pytest
from django.db import connection

from tests.participant.conftest import page, site  # noqa: F401  (the participant browser fixtures)
from tests.participant.test_browser import start, wait_for_trial
from tests.support import factories

pytestmark = [pytest.mark.browser, pytest.mark.faults, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def stop_postgres():
    cluster = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "stop", "-m", "fast"], check=True)


def start_postgres():
    subprocess.run(["bash", str(ROOT / "scripts" / "ensure-services.sh")], check=True, timeout=120)


def test_a_trial_page_recovers_by_itself_after_a_database_outage(page, site):  # noqa: F811
    study = factories.make_class_discrimination_study(trials_per_participant=3)
    start(page, site, study)
    wait_for_trial(page, 1)
    try:
        stop_postgres()
        page.reload()
        page.get_by_test_id("unavailable").wait_for()
        assert "Your answers so far are safe" in page.inner_text("body")
    finally:
        start_postgres()
        connection.close()  # this test's own connection died with the server
    # Nobody touches the page: it reloads itself and lands on the same trial.
    page.get_by_test_id("progress").filter(has_text="Trial 1 of").wait_for(timeout=30_000)
    wait_for_trial(page, 1)
