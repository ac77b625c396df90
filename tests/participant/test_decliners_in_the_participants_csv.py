"""A person with a Prolific or MTurk id who declines consent is recorded once, with the no-consent
outcome and its code, and appears so in the participants CSV: no answers, no condition slot, no plan.
The decline is final for that id. A person without a platform id who declines is not recorded."""

import pytest

from studies.models import ConditionSlot, Outcome, Participant, ParticipantStatus
from studies.results import export
from tests.participant.test_server_flow import start_url
from tests.support import factories

pytestmark = pytest.mark.django_db

PROLIFIC = {"PROLIFIC_PID": "pp-no", "STUDY_ID": "st", "SESSION_ID": "se-no"}


def decline(client, study, **params):
    return client.post(start_url(study), {"action": "decline", **params})


def csv_rows(study):
    return list(export.participant_rows(study))


def test_a_prolific_decliner_is_a_row_with_the_no_consent_outcome_and_code(client):
    study = factories.make_class_discrimination_study(**factories.RECRUITMENT_CODES)
    factories.make_participant(study, external_id="pp-yes")
    response = decline(client, study, **PROLIFIC)
    assert response.status_code == 303 and response.url.endswith("/done/")
    ending = client.get(response.url).content.decode()
    assert (
        'data-outcome="no_consent"' in ending and "NOCONSENT" in ending and "Only this decision was recorded" in ending
    )

    rows = {r["status"]: r for r in csv_rows(study)}
    row = rows["declined"]
    assert (row["outcome"], row["outcome_code"], row["has_external_id"]) == ("no_consent", "NOCONSENT", True)
    assert row["consent_version"] is None and row["consented_at"] is None and row["condition"] in ("", None)
    assert (row["assigned_trials"], row["responses"]) == (0, 0)
    assert row["completed_at"]  # when the person declined
    assert rows["active"]["consent_version"] == 1 and rows["active"]["consented_at"]
    declined = Participant.objects.get(study=study, status=ParticipantStatus.DECLINED)
    assert not ConditionSlot.objects.filter(participant=declined).exists()
    header = next(export.export_participants(study)).splitlines()[0].split(",")
    assert "consent_version" in header and "consented_at" in header


def test_declining_again_changes_nothing_and_the_id_cannot_consent_afterwards(client):
    study = factories.make_class_discrimination_study(**factories.RECRUITMENT_CODES)
    decline(client, study, **PROLIFIC)
    assert decline(client, study, **PROLIFIC).status_code in (302, 303)
    accepted = client.post(start_url(study), {"action": "accept", **PROLIFIC})
    assert accepted.status_code == 302 and accepted.url.endswith("/done/")  # the no-consent ending again
    assert client.get(start_url(study, **PROLIFIC)).url.endswith("/done/")
    people = Participant.objects.filter(study=study)
    assert people.count() == 1 and people.get().outcome == Outcome.NO_CONSENT and people.get().trial_count == 0


def test_another_browser_with_the_same_id_but_not_its_link_is_refused():
    from django.test import Client

    study = factories.make_class_discrimination_study(**factories.RECRUITMENT_CODES)
    decline(Client(), study, **PROLIFIC)
    stranger = Client().post(start_url(study), {"action": "decline", "PROLIFIC_PID": PROLIFIC["PROLIFIC_PID"]})
    assert stranger.status_code == 403
    assert Participant.objects.filter(study=study).count() == 1


def test_an_anonymous_decliner_is_not_recorded(client):
    study = factories.make_class_discrimination_study(**factories.RECRUITMENT_CODES)
    response = decline(client, study)
    assert response.status_code == 200 and b"Nothing about you has been recorded" in response.content
    assert not Participant.objects.filter(study=study).exists()
    assert csv_rows(study) == []


def test_decliners_are_counted_apart_on_the_monitor(client):
    from studies.results.monitor import monitor_data

    study = factories.make_class_discrimination_study(**factories.RECRUITMENT_CODES)
    factories.make_participant(study, external_id="pp-yes")
    decline(client, study, **PROLIFIC)
    data = monitor_data(study)
    assert data["declined"] == 1 and data["totals"]["started"] == 1
