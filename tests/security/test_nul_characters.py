"""A NUL character in any participant field gets a clear 4xx and changes nothing, never a 500."""

import pytest
from django.urls import reverse

from studies.models import Participant, ParticipantStatus, Response
from tests.support import factories

pytestmark = pytest.mark.django_db

NUL = "\x00"


def url(study, page):
    return reverse(f"studies:participant-{page}", args=[study.slug])


def refused(response):
    assert response.status_code == 400, response.content[:300]
    assert b"NUL character" in response.content


def consented(client, study):
    assert client.post(url(study, "start"), {"action": "accept"}).status_code == 302
    return Participant.objects.get(study=study)


def test_a_nul_in_the_questionnaire_comment_is_refused_and_nothing_is_stored(client):
    study = factories.make_class_discrimination_study()
    participant = factories.answer_all(consented(client, study), complete=False)
    refused(client.post(url(study, "questionnaire"), {"comment": f"fine{NUL}then"}))
    participant.refresh_from_db()
    assert participant.status == ParticipantStatus.ACTIVE and participant.comment == ""


@pytest.mark.parametrize("field", ["choice", "idempotency_key", "rt_ms", "assignment", "position", "extra"])
def test_a_nul_in_any_answer_field_is_refused(client, field):
    study = factories.make_class_discrimination_study()
    participant = consented(client, study)
    data = factories.good_answer(participant.assignments.order_by("position").first())
    data[field] = f"{data.get(field, '')}{NUL}"
    refused(client.post(url(study, "answer"), data, headers={"Accept": "application/json"}))
    assert not Response.objects.exists()


@pytest.mark.parametrize(
    "params",
    [
        {"PROLIFIC_PID": f"p{NUL}"},
        {"PROLIFIC_PID": "p", "SESSION_ID": f"s{NUL}"},
        {"workerId": "W", "assignmentId": f"A{NUL}"},
        {"SIMULATED": NUL},
        {f"x{NUL}": "y"},
    ],
)
def test_a_nul_in_any_consent_field_is_refused(client, params):
    study = factories.make_class_discrimination_study()
    assert client.get(url(study, "start"), params).status_code == 400
    assert client.post(url(study, "start"), {"action": "accept", **params}).status_code == 400
    assert not Participant.objects.exists()
