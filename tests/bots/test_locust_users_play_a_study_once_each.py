"""`make loadtest`'s driver: Locust users that are the bots, each playing the study once through
the real pages, with every answer the server acknowledged stored exactly once."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from studies.models import Participant, ParticipantStatus, Response
from studies.participants.bots import simulation_token
from tests.support import factories

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def test_locust_users_play_the_study_once_each_and_every_answer_is_stored_once(live_server, tmp_path):
    study = factories.make_class_discrimination_study(trials_per_participant=4, attention_checks=1)
    results = tmp_path / "participants.json"
    env = {
        **os.environ,
        "LOADTEST_SLUG": study.slug,
        "LOADTEST_SIM_TOKEN": simulation_token(study.slug),
        "LOADTEST_PAUSE": "0,0",
        "LOADTEST_PREFIX": "locust-test",
        "LOADTEST_RESULTS": str(results),
    }
    locust = Path(sys.executable).with_name("locust")
    command = [str(locust), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless", "--only-summary"]
    command += ["-u", "4", "-r", "4", "--host", live_server.url, "--run-time", "120s"]
    subprocess.run(command, cwd=ROOT, env=env, check=True, timeout=180, capture_output=True)

    recorded = json.loads(results.read_text())
    assert sorted(p["participant"] for p in recorded["participants"]) == [f"locust-test-{k:05d}" for k in range(4)]
    assert all(p["completed"] and not p["error"] for p in recorded["participants"])
    pages = {row["page"]: row for row in recorded["pages"]}
    assert pages["answer"]["requests"] == sum(p["answers"] for p in recorded["participants"]) == 4 * 5
    assert {"start", "consent", "instructions", "trial", "stimulus", "questionnaire", "done"} <= set(pages)
    assert not any(row["errors"] for row in recorded["pages"])

    people = Participant.objects.filter(study=study)
    assert people.count() == 4
    assert all(p.is_simulated and p.status == ParticipantStatus.COMPLETED for p in people)
    for person in people:
        assert Response.objects.filter(assignment__participant=person).count() == person.assignments.count() == 5
