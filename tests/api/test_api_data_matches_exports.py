"""The API's rows are the CSV exports' rows, its analysis the report's, its monitor the monitor's."""

import csv
import io
import json

import pytest

from studies.models import AuditEntry
from studies.results import export
from studies.results.monitor import monitor_data
from studies.results.reports import study_analysis

from .conftest import bearer

pytestmark = pytest.mark.django_db


def as_csv(columns, rows) -> str:
    return "".join(export.csv_lines(columns, rows))


def test_responses_participants_and_stimuli_are_the_csv_exports(client, built, token_key):
    study = built.study
    get = lambda what: client.get(f"/api/studies/{study.slug}/{what}", **bearer(token_key))  # noqa: E731
    responses = get("responses").json()
    assert len(responses) == len(list(csv.DictReader(io.StringIO("".join(export.export_responses(study))))))
    assert as_csv(export.RESPONSE_COLUMNS, responses) == "".join(export.export_responses(study))
    participants = get("participants").json()
    assert as_csv(export.participant_columns(study), participants) == "".join(export.export_participants(study))
    assert all(p["external_id"] is None for p in participants)
    assert as_csv(export.STIMULUS_COLUMNS, get("stimuli").json()) == "".join(export.export_stimuli(study))
    assert [e.details["what"] for e in AuditEntry.objects.order_by("id")] == ["responses", "participants", "stimuli"]
    assert {e.via for e in AuditEntry.objects.all()} == {"api"}


def test_the_analysis_is_the_reports_and_the_monitor_the_monitors(client, built, token_key):
    study = built.study
    analysis = client.get(f"/api/studies/{study.slug}/analysis", **bearer(token_key)).json()
    assert analysis == json.loads(json.dumps(study_analysis(study)[0]))
    for method, (correct, n) in built.expected["accuracy"].items():  # the numbers worked out by hand
        assert analysis["methods"][method]["n"] == n
        assert analysis["methods"][method]["accuracy"] == pytest.approx(correct / n)
    monitor = client.get(f"/api/studies/{study.slug}/monitor", **bearer(token_key)).json()
    expected = json.loads(json.dumps(monitor_data(study)))
    moving = ("generated_at", "last_activity_seconds_ago")
    assert {k: v for k, v in monitor.items() if k not in moving} == {
        k: v for k, v in expected.items() if k not in moving
    }
