"""A known Prolific or MTurk id resumes in another browser only with its own recruitment link."""

import pytest
from django.urls import reverse

from studies.models import Participant
from studies.participants.views import cookie_name
from tests.support import factories

pytestmark = pytest.mark.django_db


def start_url(study):
    return reverse("studies:participant-start", args=[study.slug])


def consent(client, study, params):
    response = client.post(start_url(study), {"action": "accept", **params})
    assert response.status_code == 302, response.content[:300]
    return Participant.objects.get(study=study)


def refused_without_cookie(response, study):
    assert response.status_code == 403
    assert b"started in another browser" in response.content
    assert cookie_name(study) not in response.cookies


def test_it_refuses_a_known_prolific_id_without_its_session_id(client):
    study = factories.make_class_discrimination_study()
    consent(client, study, {"PROLIFIC_PID": "victim", "STUDY_ID": "st", "SESSION_ID": "victims-session"})
    client.cookies.clear()  # the attacker's browser
    refused_without_cookie(client.get(start_url(study), {"PROLIFIC_PID": "victim"}), study)
    refused_without_cookie(client.get(start_url(study), {"PROLIFIC_PID": "victim", "SESSION_ID": "guess"}), study)
    refused_without_cookie(client.post(start_url(study), {"action": "accept", "PROLIFIC_PID": "victim"}), study)


def test_it_refuses_a_known_mturk_worker_id_without_its_assignment_id(client):
    study = factories.make_class_discrimination_study()
    consent(client, study, {"workerId": "WVICTIM", "assignmentId": "A-victim", "hitId": "H1"})
    client.cookies.clear()
    refused_without_cookie(client.get(start_url(study), {"workerId": "WVICTIM", "hitId": "H1"}), study)
    refused_without_cookie(client.get(start_url(study), {"workerId": "WVICTIM", "assignmentId": "A-other"}), study)


def test_the_participants_own_link_resumes_in_another_browser(client):
    study = factories.make_class_discrimination_study()
    own = {"PROLIFIC_PID": "mover", "STUDY_ID": "st", "SESSION_ID": "movers-session"}
    participant = consent(client, study, own)
    client.cookies.clear()  # the participant's phone
    response = client.get(start_url(study), own)
    assert response.status_code == 302 and response.url.endswith("/instructions/")
    assert cookie_name(study) in response.cookies
    assert Participant.objects.get(study=study).pk == participant.pk


def test_the_same_browser_resumes_by_its_cookie_without_the_session_id(client):
    study = factories.make_class_discrimination_study()
    consent(client, study, {"PROLIFIC_PID": "stayer", "SESSION_ID": "s1"})
    response = client.get(start_url(study), {"PROLIFIC_PID": "stayer"})
    assert response.status_code == 302 and response.url.endswith("/instructions/")


def test_a_finished_id_never_starts_again_even_with_its_own_link(client):
    study = factories.make_class_discrimination_study()
    own = {"PROLIFIC_PID": "done", "SESSION_ID": "s-done"}
    factories.answer_all(consent(client, study, own))
    for browser_has_cookie in (True, False):
        if not browser_has_cookie:
            client.cookies.clear()
        assert client.get(start_url(study), own).status_code == 409
        assert client.post(start_url(study), {"action": "accept", **own}).status_code == 409
    assert Participant.objects.filter(study=study).count() == 1
