"""PostgreSQL restarted in the middle of a run: every answer is there exactly once afterwards."""

import os
import subprocess
import threading
import time

import pytest
from django.db import connection

from studies.management.commands.simulate_participants import LocalServer
from studies.models import Response
from studies.participants.bots import do_simulate
from tests.support import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.faults]


def restart_postgres():
    cluster = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "restart"], check=True, timeout=60)


def test_answers_survive_a_database_restart_exactly_once():
    study = factories.make_class_discrimination_study(trials_per_participant=6, attention_checks=0, n_images=12)
    with LocalServer() as server:
        outcome = {}
        run = threading.Thread(
            target=lambda: outcome.setdefault(
                "report",
                do_simulate(
                    study,
                    base_url=server.url,
                    n=6,
                    policy="random",
                    concurrency=6,
                    pause=(0.3, 0.8),
                    fetch_images=False,
                ),
            )
        )
        run.start()
        time.sleep(1.5)
        restart_postgres()
        run.join(180)
    connection.close()  # this test's own connection died with the server
    report = outcome["report"]
    assert report.completed == 6, [r.error for r in report.failed]
    assert sum(r.retries for r in report.results) > 0  # the restart was felt, and retried through
    acknowledged = sum(r.answers for r in report.results)
    assert acknowledged == 6 * 6
    assert Response.objects.filter(assignment__participant__study=study).count() == acknowledged
