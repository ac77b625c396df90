"""A participant withdraws from the trial pages or the debrief: the study's policy deletes the answers or
keeps them excluded, the participant gives its condition slot back, the audit log records it without
personal data, and the cookie records nothing more. A forged or foreign cookie changes nothing."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from studies.models import AuditEntry, ConditionSlot, Participant, ParticipantStatus, Response
from studies.participants import flow as participation
from studies.results import analysis, export, reports
from tests.participant.test_server_flow import answer, consent, current, start_url
from tests.support import factories

pytestmark = pytest.mark.django_db

PROLIFIC = {"PROLIFIC_PID": "pp-leaving", "STUDY_ID": "st-1", "SESSION_ID": "se-leaving"}


def url(study, step):
    return reverse(f"studies:participant-{step}", args=[study.slug])


def answered_twice(client, study, **fields):
    """A Prolific participant who consented through the pages, answered two trials and wrote nothing else."""
    participant = consent(client, study, **PROLIFIC)
    for _ in range(2):
        assert answer(client, study, factories.good_answer(current(participant))).status_code == 200
    participant.refresh_from_db()
    return participant


def withdraw(client, study):
    return client.post(url(study, "withdraw"))


def test_the_trial_pages_and_the_debrief_offer_the_withdraw_link(client):
    study = factories.make_class_discrimination_study()
    participant = consent(client, study)
    link = f'href="{url(study, "withdraw")}" data-testid="withdraw"'
    assert link in client.get(url(study, "trial")).content.decode()
    factories.answer_all(participant)
    assert link in client.get(url(study, "done")).content.decode()


def test_the_confirmation_page_changes_nothing_and_asks_for_a_post(client):
    study = factories.make_class_discrimination_study()
    participant = answered_twice(client, study)
    page = client.get(url(study, "withdraw"))
    html = page.content.decode()
    assert page.status_code == 200 and 'data-testid="withdraw-confirm"' in html and "csrfmiddlewaretoken" in html
    assert "answers you gave are deleted" in html  # the default policy, said before it is applied
    participant.refresh_from_db()
    assert participant.status == ParticipantStatus.ACTIVE and participant.answered_count == 2


def test_withdrawing_under_the_delete_policy_deletes_the_answers_and_gives_the_slot_back(client):
    study = factories.make_class_discrimination_study(withdrawal_policy="delete")
    participant = answered_twice(client, study)
    assert ConditionSlot.objects.filter(participant=participant).exists()

    response = withdraw(client, study)
    html = response.content.decode()
    assert response.status_code == 200 and 'data-testid="withdrawn"' in html and "have been deleted" in html
    assert "Return submission" in html  # how to give the place back on Prolific
    participant.refresh_from_db()
    assert participant.status == ParticipantStatus.WITHDRAWN and participant.withdrawn_at is not None
    assert not Response.objects.filter(assignment__participant=participant).exists()
    assert participant.answered_count == 0 and participant.external_meta == {}
    assert not ConditionSlot.objects.filter(participant=participant).exists() and not participant.holds_slot
    assert participant.pk not in {p.pk for p in Participant.objects.filter(participation.holding_filter(study))}
    rows = {r["participant"]: r for r in export.participant_rows(study)}
    assert rows[str(participant.public_id)]["responses"] == 0
    assert rows[str(participant.public_id)]["status"] == "withdrawn"


def test_withdrawing_under_the_exclude_policy_keeps_the_answers_out_of_the_exports_analysis(client):
    study = factories.make_class_discrimination_study(withdrawal_policy="exclude")
    participant = answered_twice(client, study)
    other = factories.answer_all(factories.make_participant(study, external_id="pp-stays"))
    assert withdraw(client, study).status_code == 200

    participant.refresh_from_db()
    assert participant.status == ParticipantStatus.WITHDRAWN
    assert Response.objects.filter(assignment__participant=participant).count() == 2
    assert not ConditionSlot.objects.filter(participant=participant).exists()

    mine = [r for r in export.response_rows(study) if r["participant"] == str(participant.public_id)]
    assert len(mine) == 2 and all(r["excluded"] and r["exclusion_reason"] == "withdrawn" for r in mine)
    result, _ = reports.study_analysis(study)
    assert result["exclusions"]["excluded_participants"] == [str(participant.public_id)]
    assert str(other.public_id) not in result["exclusions"]["excluded_participants"]
    assert result["exclusions"]["by_reason"]["withdrawn"] == 1
    # The export read back without the study (rules given or not) keeps the withdrawal out too.
    people = analysis.participant_table(export.responses_frame(study), export.rules_for(study))
    assert people.set_index("participant").loc[str(participant.public_id), "excluded"]


def test_the_audit_entry_names_the_participant_by_its_public_id_only(client):
    study = factories.make_class_discrimination_study()
    participant = answered_twice(client, study)
    withdraw(client, study)
    entry = AuditEntry.objects.get(action="withdraw")
    assert (entry.actor, entry.actor_name, entry.via, entry.study_id) == (
        None,
        "the participant",
        "participant page",
        study.pk,
    )
    assert str(participant.public_id) in entry.summary and entry.details["participant"] == str(participant.public_id)
    recorded = json.dumps([entry.summary, entry.details, entry.actor_name])
    stored_id = Participant.objects.get(pk=participant.pk).external_id
    for personal in (*PROLIFIC.values(), stored_id, participant.token):
        assert personal not in recorded


def test_after_withdrawal_the_cookie_records_nothing_more(client):
    study = factories.make_class_discrimination_study(withdrawal_policy="exclude")
    participant = answered_twice(client, study)
    data = factories.good_answer(current(participant))
    cookie = client.cookies[f"visexp_p{study.pk}"].value
    response = withdraw(client, study)
    assert response.cookies[f"visexp_p{study.pk}"].value == ""  # the browser forgets it

    client.cookies[f"visexp_p{study.pk}"] = cookie  # a copy kept by hand still records nothing
    assert answer(client, study, data).status_code in (409, 410)
    assert client.get(url(study, "trial")).status_code == 410
    assert client.get(url(study, "done")).status_code == 410
    assert client.post(url(study, "questionnaire"), {"comment": "late"}).status_code == 410
    assert client.get(start_url(study)).status_code == 409
    assert client.get(start_url(study, **PROLIFIC)).status_code == 409  # the id cannot start again
    assert Response.objects.filter(assignment__participant=participant).count() == 2
    participant.refresh_from_db()
    assert participant.comment == "" and participant.status == ParticipantStatus.WITHDRAWN


def test_withdrawing_twice_is_harmless(client):
    study = factories.make_class_discrimination_study()
    answered_twice(client, study)
    cookie = client.cookies[f"visexp_p{study.pk}"].value
    assert withdraw(client, study).status_code == 200
    client.cookies[f"visexp_p{study.pk}"] = cookie
    again = withdraw(client, study)
    assert again.status_code == 200 and 'data-testid="withdrawn"' in again.content.decode()
    assert AuditEntry.objects.filter(action="withdraw").count() == 1


@pytest.mark.parametrize("cookie", ["forged", "foreign"])
def test_a_forged_or_foreign_cookie_is_refused_and_changes_nothing(client, cookie):
    study = factories.make_class_discrimination_study()
    participant = answered_twice(client, study)
    intruder = Client()
    if cookie == "forged":
        intruder.cookies[f"visexp_p{study.pk}"] = "not-a-signed-token"
    else:  # a real participant's cookie of another study, renamed to this one
        elsewhere = factories.make_class_discrimination_study()
        other = Client()
        consent(other, elsewhere)
        intruder.cookies[f"visexp_p{study.pk}"] = other.cookies[f"visexp_p{elsewhere.pk}"].value
    assert intruder.get(url(study, "withdraw")).status_code == 403
    assert intruder.post(url(study, "withdraw")).status_code == 403
    participant.refresh_from_db()
    assert participant.status == ParticipantStatus.ACTIVE and participant.answered_count == 2
    assert not AuditEntry.objects.filter(action="withdraw").exists()


def test_the_withdrawal_needs_the_pages_csrf_token():
    study = factories.make_class_discrimination_study()
    strict = Client(enforce_csrf_checks=True)
    page = strict.get(start_url(study)).content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    strict.post(start_url(study), {"action": "accept", "csrfmiddlewaretoken": token})
    participant = Participant.objects.get(study=study)
    assert strict.post(url(study, "withdraw")).status_code == 403
    assert Participant.objects.get(pk=participant.pk).status == ParticipantStatus.ACTIVE
    confirm = strict.get(url(study, "withdraw")).content.decode()
    token = confirm.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    assert strict.post(url(study, "withdraw"), {"csrfmiddlewaretoken": token}).status_code == 200
    assert Participant.objects.get(pk=participant.pk).status == ParticipantStatus.WITHDRAWN
