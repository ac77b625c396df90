"""Recruitment outcomes through Django's test client: one Prolific code per outcome, screeners before
consent, the time limit, MTurk's preview and externalSubmit form, and how to return a study."""

import json
import re

import pytest
from cryptography.fernet import Fernet
from django.urls import reverse
from django.utils import timezone

from studies.models import Outcome, Participant, ParticipantStatus, Response
from studies.participants import flow as participation
from studies.participants import recruitment
from studies.participants.privacy import external_id_for_storage
from studies.stimuli.configuration import study_config_errors
from tests.participant.test_server_flow import answer, consent, current, start_url
from tests.support import factories

pytestmark = pytest.mark.django_db

CODES = factories.RECRUITMENT_CODES
PROLIFIC = {"PROLIFIC_PID": "pp-owner", "STUDY_ID": "st", "SESSION_ID": "se-owner"}
SCREENERS = [
    {"name": "vision", "question": "Do you have normal vision?", "options": ["Yes", "No"], "eligible": ["Yes"]},
    {"name": "age", "question": "Are you 18 or older?", "options": ["Yes", "No"], "eligible": ["Yes"]},
]


def page(client, study, step):
    return client.get(reverse(f"studies:participant-{step}", args=[study.slug]))


def prolific_redirect(code):
    return f"https://app.prolific.com/submissions/complete?cc={code}"


def finish_with_checks(client, study, participant, *, fail_checks: bool):
    """Answer every trial through the views (attention checks wrongly if asked), then the questionnaire."""
    while (assignment := current(participant)) is not None:
        data = factories.good_answer(assignment)
        if fail_checks and assignment.is_attention_check:
            data["choice"] = next(o for o in assignment.trial.options if o != assignment.trial.target_class)
        assert answer(client, study, data).status_code == 200
    response = client.post(reverse("studies:participant-questionnaire", args=[study.slug]), {"comment": ""})
    assert response.status_code == 303
    participant.refresh_from_db()
    return participant


def test_a_completed_prolific_participant_goes_to_prolifics_completion_url_with_the_completed_code(client):
    study = factories.make_class_discrimination_study(**CODES)
    participant = finish_with_checks(client, study, consent(client, study, **PROLIFIC), fail_checks=False)
    assert participant.outcome == Outcome.COMPLETED
    html = page(client, study, "done").content.decode()
    assert f'content="3;url={prolific_redirect("C0MPL3TE")}"' in html
    assert f'href="{prolific_redirect("C0MPL3TE")}"' in html
    assert 'data-outcome="completed" data-testid="completion-code">C0MPL3TE<' in html


@pytest.mark.parametrize(
    ("rule", "expected"), [(2, Outcome.FAILED_CHECKS), (3, Outcome.COMPLETED), (0, Outcome.COMPLETED)]
)
def test_failing_attention_checks_gives_the_failed_checks_code_by_the_studys_rule(client, rule, expected):
    study = factories.make_class_discrimination_study(attention_checks=2, failed_checks_for_code=rule, **CODES)
    participant = finish_with_checks(client, study, consent(client, study, **PROLIFIC), fail_checks=True)
    assert recruitment.failed_checks(participant) == 2
    assert participant.status == ParticipantStatus.COMPLETED and participant.outcome == expected
    code = study.failed_checks_code if expected == Outcome.FAILED_CHECKS else study.completion_code
    html = page(client, study, "done").content.decode()
    assert prolific_redirect(code) in html and f'data-testid="completion-code">{code}<' in html


def test_the_default_rule_is_prolifics_two_failed_checks():
    assert factories.make_class_discrimination_study().failed_checks_for_code == 2


def test_the_outcome_is_decided_by_the_server_whatever_the_request_says(client):
    study = factories.make_class_discrimination_study(attention_checks=2, **CODES)
    participant = finish_with_checks(client, study, consent(client, study, **PROLIFIC), fail_checks=True)
    url = reverse("studies:participant-done", args=[study.slug])
    html = client.get(url, {"outcome": "completed", "cc": "C0MPL3TE", "code": "C0MPL3TE"}).content.decode()
    assert prolific_redirect("FAILED22") in html and "C0MPL3TE" not in html
    # POSTing an outcome is refused, and changes nothing.
    assert client.post(url, {"outcome": "completed"}).status_code == 405
    participant.refresh_from_db()
    assert participant.outcome == Outcome.FAILED_CHECKS


def test_declining_consent_sends_the_no_consent_code_and_records_only_the_outcome(client):
    study = factories.make_class_discrimination_study(**CODES)
    response = client.post(start_url(study), {"action": "decline", **PROLIFIC}, follow=True)
    html = response.content.decode()
    assert response.status_code == 200 and prolific_redirect("NOCONSENT") in html
    participant = Participant.objects.get(study=study)
    assert (participant.status, participant.outcome) == (ParticipantStatus.DECLINED, Outcome.NO_CONSENT)
    assert participant.consent_version is None and not participant.assignments.exists()


def test_without_a_code_for_the_outcome_a_prolific_participant_is_told_to_return_the_study(client):
    study = factories.make_class_discrimination_study()  # only the completed code is set
    html = client.post(start_url(study), {"action": "decline", **PROLIFIC}, follow=True).content.decode()
    assert "app.prolific.com" not in html
    assert "Return submission" in html


def test_a_participant_past_the_time_limit_is_timed_out_with_its_code_and_keeps_the_answers(client):
    study = factories.make_class_discrimination_study(time_limit_minutes=10, **CODES)
    participant = consent(client, study, **PROLIFIC)
    assert answer(client, study, factories.good_answer(current(participant))).status_code == 200
    assert page(client, study, "trial").status_code == 200  # within the limit
    Participant.objects.filter(pk=participant.pk).update(consented_at=timezone.now() - timezone.timedelta(minutes=11))
    response = page(client, study, "trial")
    assert response.status_code == 303 and response.url.endswith("/done/")
    participant.refresh_from_db()
    assert (participant.status, participant.outcome) == (ParticipantStatus.ABANDONED, Outcome.TIMED_OUT)
    html = page(client, study, "done").content.decode()
    assert prolific_redirect("TIMEOUT9") in html and "Time is up" in html
    # An answer after the limit is refused and points to the ending; the answer before stays.
    late = answer(client, study, factories.good_answer(current(participant)))
    assert late.status_code == 409 and late.json()["next"].endswith("/done/")
    assert Response.objects.filter(assignment__participant=participant).count() == 1
    # Back with the recruitment link: the ending again, not a new participation.
    again = client.get(start_url(study, **PROLIFIC))
    assert again.status_code == 302 and again.url.endswith("/done/")


def test_screeners_come_before_consent_and_screen_out_with_their_own_code(client):
    study = factories.make_class_discrimination_study(screeners=SCREENERS, **CODES)
    html = client.get(start_url(study, **PROLIFIC)).content.decode()
    assert 'data-testid="screener-submit"' in html and 'data-testid="consent-accept"' not in html
    assert re.findall(r'data-testid="screener" data-name="([^"]+)"', html) == ["vision", "age"]
    response = client.post(
        start_url(study), {"action": "screen", "screener_vision": "Yes", "screener_age": "No", **PROLIFIC}
    )
    assert response.status_code == 303 and response.url.endswith("/done/")
    participant = Participant.objects.get(study=study)
    assert (participant.status, participant.outcome, participant.condition) == ("screened_out", "screened_out", "")
    assert participant.external_id == external_id_for_storage("prolific", "pp-owner")
    assert not participant.assignments.exists() and not hasattr(participant, "condition_slot")
    html = page(client, study, "done").content.decode()
    assert prolific_redirect("SCREENED1") in html and 'data-outcome="screened_out"' in html
    # The same id cannot try again with other answers: it sees its ending.
    again = client.post(
        start_url(study), {"action": "screen", "screener_vision": "Yes", "screener_age": "Yes", **PROLIFIC}
    )
    assert again.status_code == 302 and again.url.endswith("/done/")
    assert Participant.objects.filter(study=study).count() == 1


def test_an_eligible_person_goes_on_to_consent_and_only_with_the_signed_pass(client):
    study = factories.make_class_discrimination_study(screeners=SCREENERS, **CODES)
    response = client.post(
        start_url(study), {"action": "screen", "screener_vision": "Yes", "screener_age": "Yes", **PROLIFIC}
    )
    html = response.content.decode()
    assert response.status_code == 200 and 'data-testid="consent-accept"' in html
    assert not Participant.objects.filter(study=study).exists()  # answers are not stored
    note = re.search(r'name="screened" value="([^"]+)"', html).group(1)
    participant = consent(client, study, screened=note, **PROLIFIC)
    assert participant.outcome == "" and participant.condition


@pytest.mark.parametrize(
    "data",
    [
        {"action": "accept"},  # skipping the screeners
        {"action": "accept", "screened": "forged:note"},
        {"action": "screen", "screener_vision": "Maybe", "screener_age": "Yes"},  # not an option
        {"action": "screen", "screener_vision": "Yes"},  # a question left out
    ],
)
def test_forged_or_incomplete_screening_is_refused_and_writes_nothing(client, data):
    study = factories.make_class_discrimination_study(screeners=SCREENERS, **CODES)
    response = client.post(start_url(study), {**data, **PROLIFIC})
    assert response.status_code == 400
    assert not Participant.objects.filter(study=study).exists()


def test_a_pass_is_bound_to_its_study_and_its_id(client):
    study = factories.make_class_discrimination_study(screeners=SCREENERS, **CODES)
    other = factories.make_class_discrimination_study(screeners=SCREENERS, **CODES)
    note = recruitment.screening_pass(other, "pp-owner")
    assert client.post(start_url(study), {"action": "accept", "screened": note, **PROLIFIC}).status_code == 400
    note = recruitment.screening_pass(study, "someone-else")
    assert client.post(start_url(study), {"action": "accept", "screened": note, **PROLIFIC}).status_code == 400
    assert not Participant.objects.filter(study=study).exists()


def test_mturk_preview_shows_the_instructions_and_no_trial(client):
    study = factories.make_class_discrimination_study(mturk_environment="sandbox", instructions_text="Look closely.")
    response = client.get(start_url(study, assignmentId=participation.MTURK_PREVIEW_ASSIGNMENT, hitId="h1"))
    html = response.content.decode()
    assert response.status_code == 200 and 'data-testid="mturk-preview"' in html
    assert "Look closely." in html and "Instructions" in html
    assert 'data-testid="consent-accept"' not in html and 'data-testid="stimulus"' not in html
    assert "frame-ancestors https://worker.mturk.com" in response["Content-Security-Policy"]
    assert not Participant.objects.filter(study=study).exists()


def test_an_mturk_participant_ends_with_a_form_posting_the_assignment_to_external_submit(client):
    study = factories.make_class_discrimination_study(mturk_environment="sandbox", **CODES)
    mturk = {"workerId": "W1", "assignmentId": "A-17", "hitId": "H1", "turkSubmitTo": "https://evil.example"}
    participant = finish_with_checks(client, study, consent(client, study, **mturk), fail_checks=False)
    response = page(client, study, "done")
    html = response.content.decode()
    form = re.search(r'<form method="post" action="([^"]+)" data-testid="mturk-submit">(.*?)</form>', html, re.S)
    assert form.group(1) == "https://workersandbox.mturk.com/mturk/externalSubmit"  # never turkSubmitTo
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(2)))
    assert fields == {"assignmentId": "A-17", "outcome": "completed", "code": "C0MPL3TE"}
    assert "form-action 'self' https://workersandbox.mturk.com;" in response["Content-Security-Policy"] + ";"
    assert participant.outcome == Outcome.COMPLETED


def test_production_mturk_posts_to_the_production_url():
    study = factories.make_class_discrimination_study(mturk_environment="production", **CODES)
    end = recruitment.ending(study, Outcome.COMPLETED, "mturk", {"assignmentId": "A1"})
    assert end.mturk_action == "https://www.mturk.com/mturk/externalSubmit"


def test_a_participant_who_leaves_early_is_told_how_to_return_the_study(client):
    study = factories.make_class_discrimination_study(**CODES)
    consent(client, study, **PROLIFIC)
    trial = page(client, study, "trial").content.decode()
    leave_url = reverse("studies:participant-leave", args=[study.slug])
    assert f'href="{leave_url}" data-testid="leave-study"' in trial
    html = client.get(leave_url).content.decode()
    assert "Return submission" in html and "Prolific" in html
    mturk_client = type(client)()
    consent(mturk_client, study, workerId="W9", assignmentId="A9", hitId="H9")
    assert "Return" in mturk_client.get(leave_url).content.decode()


def test_ids_are_kept_encrypted_when_the_study_says_so(client, settings):
    settings.EXTERNAL_ID_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    study = factories.make_class_discrimination_study(external_id_protection="encrypt", **CODES)
    participant = consent(client, study, **PROLIFIC)
    assert participant.external_id == external_id_for_storage("prolific", "pp-owner")  # still the lookup key
    assert participant.external_id_encrypted and "pp-owner" not in participant.external_id_encrypted
    rotated = [Fernet.generate_key().decode(), settings.EXTERNAL_ID_ENCRYPTION_KEYS[0]]
    settings.EXTERNAL_ID_ENCRYPTION_KEYS = rotated  # a new key first: the old one still decrypts
    from studies.participants.privacy import readable_external_id

    assert readable_external_id(participant) == "pp-owner"


def test_a_study_that_keeps_ids_encrypted_needs_a_key_and_a_consent_without_one_writes_nothing(client, settings):
    settings.EXTERNAL_ID_ENCRYPTION_KEYS = []
    study = factories.make_class_discrimination_study(external_id_protection="encrypt", **CODES)
    assert any("EXTERNAL_ID_ENCRYPTION_KEYS" in e for e in study_config_errors(study))
    response = client.post(start_url(study), {"action": "accept", **PROLIFIC})
    assert response.status_code == 503 and not Participant.objects.filter(study=study).exists()
    settings.EXTERNAL_ID_ENCRYPTION_KEYS = ["not-a-key"]
    assert any("not a Fernet key" in e for e in study_config_errors(study))


def test_recruitment_settings_are_checked_with_the_configuration():
    study = factories.make_class_discrimination_study(**CODES)
    assert study_config_errors(study) == []
    study.timed_out_code = study.completion_code
    assert any("each outcome needs its own code" in e for e in study_config_errors(study))
    study.timed_out_code = "TIMEOUT9"
    study.screeners = [{"name": "x", "question": "Q?", "options": ["a"], "eligible": ["a"]}]
    assert any("two distinct options" in e for e in study_config_errors(study))
    study.screeners = [{"name": "x", "question": "Q?", "options": ["a", "b"], "eligible": ["c"]}]
    assert any("eligible must list" in e for e in study_config_errors(study))
    study.screeners, study.screened_out_code = SCREENERS, ""
    assert any("needs a screened-out code" in e for e in study_config_errors(study))


def test_the_trial_page_and_the_answer_keep_their_query_counts_with_a_time_limit(client, django_assert_max_num_queries):
    study = factories.make_trust_study(trials_per_participant=4, time_limit_minutes=60, **CODES)
    participant = consent(client, study)
    with django_assert_max_num_queries(5):
        assert page(client, study, "trial").status_code == 200
    data = factories.good_answer(current(participant))
    with django_assert_max_num_queries(7):
        assert answer(client, study, data).status_code == 200


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timed_out_code": "C0MPL3TE"}, "each outcome needs its own code"),
        ({"failed_checks_code": "BAD CODE!"}, "a completion code: letters, digits"),
        ({"screeners": '[{"name": "x", "question": "Q?", "options": ["a"], "eligible": ["a"]}]'}, "two distinct"),
        ({"screeners": "not json"}, "Enter a valid JSON"),
    ],
)
def test_bad_recruitment_settings_are_form_errors_in_the_admin_and_change_nothing(researcher_client, change, message):
    from django.forms.models import model_to_dict

    from studies.models import Study, StudyStatus

    study = factories.make_class_discrimination_study(status=StudyStatus.DRAFT, **CODES)
    data = {k: v for k, v in model_to_dict(study).items() if v is not None}
    data.update({"methods": study.methods, "screeners": "[]", "mturk_environment": "", **change})
    response = researcher_client.post(f"/admin/studies/study/{study.pk}/change/", data)
    assert response.status_code == 200 and message in response.content.decode()
    fresh = Study.objects.get(pk=study.pk)
    assert (fresh.timed_out_code, fresh.failed_checks_code, fresh.screeners) == ("TIMEOUT9", "FAILED22", [])
    data.update(screeners=json.dumps(SCREENERS), **CODES)
    assert researcher_client.post(f"/admin/studies/study/{study.pk}/change/", data).status_code == 302
    assert Study.objects.get(pk=study.pk).screeners == SCREENERS


def test_a_prolific_study_with_its_own_completion_url_and_no_code_still_redirects_there():
    study = factories.make_class_discrimination_study(completion_code="", completion_url="https://example.org/back")
    assert recruitment.ending(study, Outcome.COMPLETED, "prolific").redirect_url == "https://example.org/back"
    assert recruitment.ending(study, Outcome.TIMED_OUT, "prolific").return_instructions


def test_mturk_without_an_environment_shows_the_code_and_asks_only_the_unfinished_to_return():
    study = factories.make_class_discrimination_study(**CODES)
    done = recruitment.ending(study, Outcome.COMPLETED, "mturk", {"assignmentId": "A1"})
    assert (done.code, done.mturk_action, done.return_instructions) == ("C0MPL3TE", "", "")
    assert recruitment.ending(study, Outcome.SCREENED_OUT, "mturk", {"assignmentId": "A1"}).return_instructions
