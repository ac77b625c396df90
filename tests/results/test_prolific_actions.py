"""Acting on Prolific submissions: the participants CSV's outcome and code, the clear-text export of
encrypted ids (logged), Prolific's bulk bonus list, and the outcome of each row of Prolific's
submissions CSV, with bad uploads refused and nothing written."""

import csv
import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.urls import reverse

from studies.models import AuditEntry
from studies.participants import flow as participation
from studies.results import export, prolific
from tests.support import factories

pytestmark = pytest.mark.django_db

CODES = factories.RECRUITMENT_CODES
BONUS = {"bonus_per_correct_above_chance": 0.05}


@pytest.fixture
def key(settings):
    settings.EXTERNAL_ID_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]


def read(chunks):
    return list(csv.DictReader(io.StringIO("".join(chunks))))


def hive_study(protection="encrypt"):
    return factories.make_hive_study(
        "hive_agreement", settings=BONUS, external_id_protection=protection, attention_checks=2, **CODES
    )


def finish(study, pid, *, pilot=False, simulated=False, fail_checks=False):
    participant = factories.make_participant(study, external_id=pid, pilot=pilot, simulated=simulated)
    for assignment in participant.assignments.select_related("trial", "participant__study"):
        data = factories.good_answer(assignment)
        if fail_checks and assignment.is_attention_check:
            data["agreement"] = 1 if int(data["agreement"]) != 1 else 4
        participation.do_answer(participant, data)
    participation.do_questionnaire(participant, "")
    participant.refresh_from_db()
    return participant


def test_the_participants_csv_gives_each_persons_outcome_and_code(key):
    study = hive_study()
    done = finish(study, "PID-DONE")
    failed = finish(study, "PID-FAILED", fail_checks=True)
    waiting = factories.make_participant(study, external_id="PID-WAITING")
    rows = {r["participant"]: r for r in read(export.export_participants(study))}
    assert (rows[str(done.public_id)]["outcome"], rows[str(done.public_id)]["outcome_code"]) == (
        "completed",
        "C0MPL3TE",
    )
    assert (rows[str(failed.public_id)]["outcome"], rows[str(failed.public_id)]["outcome_code"]) == (
        "failed_checks",
        "FAILED22",
    )
    assert (rows[str(waiting.public_id)]["outcome"], rows[str(waiting.public_id)]["outcome_code"]) == ("", "")
    assert all(r["external_id"] == "" for r in rows.values())


def test_staff_export_ids_in_clear_where_the_study_keeps_them_encrypted_and_the_export_is_logged(
    key, researcher_client
):
    study = hive_study()
    done = finish(study, "PID-DONE")
    url = reverse("studies:export-participants", kwargs={"study_id": study.pk}) + "?external_ids=1"
    rows = read(b"".join(researcher_client.get(url).streaming_content).decode())
    assert next(r for r in rows if r["participant"] == str(done.public_id))["external_id"] == "PID-DONE"
    [entry] = AuditEntry.objects.filter(action="export")
    assert entry.actor.username == "rosa" and entry.details["external_ids"] is True and entry.at is not None


def test_a_hashing_study_exports_the_hash_never_the_id(key):
    study = hive_study(protection="hash")
    done = finish(study, "PID-DONE")
    [row] = read(export.export_participants(study, include_external_ids=True))
    assert row["external_id"] == done.external_id and row["external_id"].startswith("hmac-sha256:")
    assert "PID-DONE" not in "".join(export.export_participants(study, include_external_ids=True))


def test_the_bulk_bonus_list_pays_completed_real_participants_from_the_kinds_formula(key):
    study = hive_study()
    done = finish(study, "PID-DONE")
    finish(study, "PID-PILOT", pilot=True)
    finish(study, "PID-SIM", simulated=True)
    finish(study, "PID-FAILED", fail_checks=True)
    factories.make_participant(study, external_id="PID-WAITING")
    bonus = export.participant_figures(study)[done.pk].bonus
    assert bonus > 0
    bonuses = prolific.prolific_bonuses(study)
    assert bonuses.text == f"PID-DONE,{bonus:.2f}\n" and bonuses.unreadable == 0


def test_ids_kept_only_as_a_hash_cannot_be_listed_for_bonuses_and_are_counted(key):
    study = hive_study(protection="hash")
    finish(study, "PID-DONE")
    bonuses = prolific.prolific_bonuses(study)
    assert bonuses.lines == [] and bonuses.unreadable == 1


def test_the_command_writes_the_bonus_list_and_logs_it(key, tmp_path):
    study = hive_study()
    finish(study, "PID-DONE")
    out = tmp_path / "bonuses.csv"
    call_command("export_results", study.slug, "--out", str(tmp_path / "r.csv"), "--prolific-bonuses", str(out))
    assert out.read_text().startswith("PID-DONE,")
    assert AuditEntry.objects.filter(details__what="Prolific bonuses", details__external_ids=True).count() == 1


def submissions_csv(*rows):
    lines = ["Submission id,Participant id,Status,Completion code"]
    lines += [",".join(r) for r in rows]
    return ("\ufeff" + "\n".join(lines) + "\n").encode()


def test_a_hashing_researcher_uploads_prolifics_submissions_and_gets_each_rows_outcome(researcher_client):
    study = hive_study(protection="hash")
    done = finish(study, "PID-DONE")
    finish(study, "PID-FAILED", fail_checks=True)
    data = submissions_csv(
        ("s1", "PID-DONE", "AWAITING REVIEW", "C0MPL3TE"),
        ("s2", "PID-FAILED", "AWAITING REVIEW", "C0MPL3TE"),  # a code it was not given
        ("s3", "PID-NEVER", "RETURNED", "NOCONSENT"),
        ("s4", "PID-FORGER", "AWAITING REVIEW", "C0MPL3TE"),
    )
    url = reverse("studies:prolific-submissions", kwargs={"study_id": study.pk})
    response = researcher_client.post(url, {"submissions": io.BytesIO(data)})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = {r["participant_id"]: r for r in read(b"".join(response.streaming_content).decode())}
    assert rows["PID-DONE"]["outcome"] == "completed" and rows["PID-DONE"]["code_matches"] == "true"
    assert rows["PID-DONE"]["participant"] == str(done.public_id) and float(rows["PID-DONE"]["bonus"]) > 0
    assert rows["PID-FAILED"]["outcome"] == "failed_checks" and rows["PID-FAILED"]["code_matches"] == "false"
    assert rows["PID-FAILED"]["expected_code"] == "FAILED22" and rows["PID-FAILED"]["bonus"] == ""
    assert rows["PID-NEVER"]["found"] == "false" and rows["PID-NEVER"]["code_matches"] == "true"
    assert rows["PID-FORGER"]["found"] == "false" and rows["PID-FORGER"]["code_matches"] == "false"
    assert rows["PID-DONE"]["submission_id"] == "s1" and rows["PID-DONE"]["prolific_status"] == "AWAITING REVIEW"
    assert AuditEntry.objects.filter(action="export").count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"Submission id,Status\ns1,APPROVED\n", "no participant id column"),
        (b"Participant id,Status\n,APPROVED\n", "Line 2"),
        (b"Participant id\nok\x01bad\n", "Line 2"),
        (b"Participant id\n\x00\n", "NUL"),
    ],
)
def test_a_bad_upload_gets_a_form_error_and_writes_nothing(researcher_client, data, message):
    study = hive_study(protection="hash")
    url = reverse("studies:prolific-submissions", kwargs={"study_id": study.pk})
    response = researcher_client.post(url, {"submissions": io.BytesIO(data)} if data else {})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="error"' in html and (message in html or "Choose the submissions CSV" in html)
    assert not AuditEntry.objects.exists()


def test_the_submissions_page_is_a_form_for_staff(researcher_client, client):
    study = hive_study(protection="hash")
    url = reverse("studies:prolific-submissions", kwargs={"study_id": study.pk})
    assert 'type="file"' in researcher_client.get(url).content.decode()
    results = researcher_client.get(reverse("studies:study-results", kwargs={"study_id": study.pk})).content.decode()
    assert 'data-testid="export-prolific-bonuses"' in results and 'data-testid="prolific-submissions"' in results


def test_the_monitor_counts_screened_out_people_apart_from_the_conditions():
    from studies.participants.recruitment import do_screen_out
    from studies.results.monitor import monitor_data

    study = hive_study(protection="hash")
    finish(study, "PID-DONE")
    do_screen_out(study, participation.ExternalIdentity("prolific", "PID-OUT", {"SESSION_ID": "s"}))
    data = monitor_data(study)
    assert data["screened_out"] == 1
    assert data["totals"]["started"] == 1 and "(none)" not in [c["condition"] for c in data["conditions"]]
