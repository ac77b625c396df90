"""The participant flow through Django's test client: start, consent, trials, questionnaire, debrief."""

import re
import uuid

import pytest
from django.urls import reverse

from studies.models import Participant, ParticipantStatus, Response, StudyStatus
from studies.participants import flow as participation
from studies.participants.privacy import external_id_for_storage
from tests.support import factories

pytestmark = pytest.mark.django_db


def start_url(study, **params):
    url = reverse("studies:participant-start", args=[study.slug])
    if params:
        url += "?" + "&".join(f"{k}={v}" for k, v in params.items())
    return url


def consent(client, study, **params):
    data = {"action": "accept", **params}
    response = client.post(start_url(study), data)
    assert response.status_code == 302, response.content[:500]
    return Participant.objects.get(study=study, token=_token(client, study))


def _token(client, study):
    from django.http import HttpRequest

    from studies.participants.views import COOKIE_SALT, cookie_name

    request = HttpRequest()
    request.COOKIES = {name: morsel.value for name, morsel in client.cookies.items()}
    return request.get_signed_cookie(cookie_name(study), salt=COOKIE_SALT)


def current(participant):
    participant.refresh_from_db()  # answers went through the client, not this object
    return participation.current_assignment(participant)


def answer(client, study, data, json=True):
    headers = {"Accept": "application/json"} if json else {}
    return client.post(reverse("studies:participant-answer", args=[study.slug]), data, headers=headers)


def test_whole_class_discrimination_flow_with_prolific_ids(client):
    study = factories.make_class_discrimination_study()
    page = client.get(start_url(study, PROLIFIC_PID="pp1", STUDY_ID="st", SESSION_ID="se"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="consent-accept"' in html and 'name="PROLIFIC_PID" value="pp1"' in html
    assert "Content-Security-Policy" in page.headers and "script-src 'self'" in page.headers["Content-Security-Policy"]

    response = client.post(
        start_url(study), {"action": "accept", "PROLIFIC_PID": "pp1", "STUDY_ID": "st", "SESSION_ID": "se"}
    )
    assert response.status_code == 302 and response.url.endswith("/instructions/")
    participant = Participant.objects.get(study=study)
    assert (participant.external_source, participant.external_id) == (
        "prolific",
        external_id_for_storage("prolific", "pp1"),
    )
    assert "pp1" not in participant.external_id  # stored as a keyed hash by default
    assert participant.external_meta == {"STUDY_ID": "st", "SESSION_ID": "se"}
    assert participant.condition in study.methods
    total = participant.assignments.count()
    assert total == study.trials_per_participant + study.attention_checks_per_participant

    assert 'data-testid="continue"' in client.get(response.url).content.decode()
    for k in range(total):
        page = client.get(reverse("studies:participant-trial", args=[study.slug]))
        html = page.content.decode()
        assert f"Trial {k + 1} of {total}" in html
        assert "Which of the two object categories is depicted in the image?" in html
        assignment = current(participant)
        buttons = re.findall(r'data-testid="choice" data-value="([^"]+)"', html)
        assert buttons == assignment.option_order
        assert html.count('data-testid="stimulus"') == 1
        assert assignment.trial.panels.get().stimulus.png.url in html
        assert assignment.trial.image.file.url not in html  # never the unmasked photograph
        res = answer(client, study, factories.good_answer(assignment))
        assert res.status_code == 200 and res.json()["ok"], res.content
    assert res.json()["next"].endswith("/questionnaire/")
    res = client.post(reverse("studies:participant-questionnaire", args=[study.slug]), {"comment": "fine"})
    assert res.status_code == 303
    done = client.get(res.url)
    assert 'data-testid="completion-code">C0MPL3TE<' in done.content.decode()
    participant.refresh_from_db()
    assert participant.status == ParticipantStatus.COMPLETED and participant.comment == "fine"
    responses = Response.objects.filter(assignment__participant=participant)
    assert responses.count() == total and all(r.correct for r in responses)
    assert all(r.rt_ms == 850 for r in responses)
    attention = responses.filter(assignment__is_attention_check=True).select_related("assignment__trial")
    assert attention.count() == 1 and attention[0].assignment.trial.method == "photo_crop"


def test_trust_trial_page_and_rating_conversion(client):
    study = factories.make_trust_study(trials_per_participant=6)
    participant = consent(client, study)
    seen_swaps = set()
    for _ in range(participant.assignments.count()):
        assignment = current(participant)
        html = client.get(reverse("studies:participant-trial", args=[study.slug])).content.decode()
        values = re.findall(r'data-testid="rating" data-value="(-?\d)"', html)
        assert values == ["2", "1", "0", "-1", "-2"]
        assert "Model 1" in html and "Model 2" in html and assignment.trial.target_class in html
        swapped = assignment.presentation["swapped"]
        stronger, weaker = (p.stimulus for p in assignment.trial.panels.all())
        model1, model2 = (weaker, stronger) if swapped else (stronger, weaker)
        assert html.index(model1.png.url) < html.index(model2.png.url)
        if assignment.is_attention_check:
            assert assignment.trial.payload["instruction"] in html
        data = factories.good_answer(assignment)
        if not assignment.is_attention_check:
            data["rating"] = 1
        assert answer(client, study, data).status_code == 200
        r = Response.objects.get(assignment=assignment)
        if assignment.is_attention_check:
            assert r.correct is True
        else:
            seen_swaps.add(swapped)
            assert r.answer == {"rating": 1} and r.score == (-1 if swapped else 1)
            assert r.correct is None
    assert seen_swaps == {True, False}


def test_plain_form_post_without_javascript_redirects_and_resubmission_is_harmless(client):
    study = factories.make_class_discrimination_study()
    participant = consent(client, study)
    data = factories.good_answer(current(participant))
    first = answer(client, study, data, json=False)
    assert first.status_code == 303 and first.url.endswith("/trial/")
    again = answer(client, study, data, json=False)  # the browser resubmits the same form
    assert again.status_code == 303
    assert Response.objects.filter(assignment__participant=participant).count() == 1


def test_declining_consent_without_a_platform_id_records_nothing(client):
    study = factories.make_class_discrimination_study()
    res = client.post(start_url(study), {"action": "decline"})
    assert res.status_code == 200 and b"Nothing about you has been recorded" in res.content
    assert not Participant.objects.exists()
    assert not any(name.startswith("visexp_p") for name in res.cookies)


def test_reload_resumes_at_first_unanswered_trial(client):
    study = factories.make_class_discrimination_study()
    participant = consent(client, study)
    for _ in range(2):
        assert answer(client, study, factories.good_answer(current(participant))).status_code == 200
    res = client.get(start_url(study))
    assert res.status_code == 302 and res.url.endswith("/trial/")
    html = client.get(res.url).content.decode()
    assert f"Trial 3 of {participant.assignments.count()}" in html


def test_second_visit_by_the_same_external_id(client, django_user_model):
    study = factories.make_class_discrimination_study()
    participant = consent(client, study, PROLIFIC_PID="same", STUDY_ID="s", SESSION_ID="se")
    answer(client, study, factories.good_answer(current(participant)))
    client.cookies.clear()  # another browser, the same recruitment link
    res = client.get(start_url(study, PROLIFIC_PID="same", SESSION_ID="se"))
    assert res.status_code == 302 and res.url.endswith("/trial/")
    assert Participant.objects.filter(study=study).count() == 1
    # Posting consent again does not create a second participation either.
    client.cookies.clear()
    res = client.post(start_url(study), {"action": "accept", "PROLIFIC_PID": "same", "SESSION_ID": "se"})
    assert res.status_code == 302 and Participant.objects.filter(study=study).count() == 1
    factories.answer_all(participant)
    client.cookies.clear()
    refused = client.get(start_url(study, PROLIFIC_PID="same"))
    assert refused.status_code == 409 and b"already completed" in refused.content
    assert client.post(start_url(study), {"action": "accept", "PROLIFIC_PID": "same"}).status_code == 409
    assert Participant.objects.filter(study=study).count() == 1


def test_mturk_parameters_are_recorded_and_preview_cannot_start(client):
    study = factories.make_class_discrimination_study()
    preview = client.get(start_url(study, assignmentId="ASSIGNMENT_ID_NOT_AVAILABLE", hitId="h"))
    assert preview.status_code == 200 and b"accept the HIT" in preview.content
    res = client.post(start_url(study), {"action": "accept", "workerId": "W1", "assignmentId": "A1", "hitId": "H1"})
    assert res.status_code == 302
    p = Participant.objects.get(study=study)
    assert (p.external_source, p.external_id) == ("mturk", external_id_for_storage("mturk", "W1"))
    assert p.external_meta == {"assignmentId": "A1", "hitId": "H1"}


@pytest.mark.parametrize("status", [StudyStatus.DRAFT, StudyStatus.READY, StudyStatus.CLOSED])
def test_study_not_open_gets_a_polite_page(client, status):
    study = factories.make_class_discrimination_study(status=status)
    res = client.get(start_url(study))
    assert res.status_code == 404
    assert b"not open" in res.content or b"closed" in res.content
    assert client.post(start_url(study), {"action": "accept"}).status_code == 404
    assert not Participant.objects.exists()
    assert client.get("/s/no-such-study/").status_code == 404


def test_participants_who_started_may_finish_after_closing(client):
    study = factories.make_class_discrimination_study()
    participant = consent(client, study)
    study.status = StudyStatus.CLOSED
    study.save()
    assert answer(client, study, factories.good_answer(current(participant))).status_code == 200


def test_staff_pilot_of_a_study_that_is_not_live(client, researcher, outsider):
    study = factories.make_class_discrimination_study(status=StudyStatus.READY)
    client.force_login(outsider)
    assert client.get(start_url(study, pilot=1)).status_code == 404
    client.force_login(researcher)
    page = client.get(start_url(study, pilot=1))
    assert page.status_code == 200 and b'data-testid="pilot-notice"' in page.content
    res = client.post(start_url(study), {"action": "accept", "pilot": "1"})
    assert res.status_code == 302
    participant = Participant.objects.get(study=study)
    assert participant.is_pilot
    assert client.get(reverse("studies:participant-trial", args=[study.slug])).status_code == 200


def test_debrief_redirects_to_the_completion_url_unchanged(client):
    url = "https://app.prolific.com/submissions/complete?cc=ABC123"
    study = factories.make_class_discrimination_study(completion_url=url, completion_code="")
    participant = consent(client, study)
    factories.answer_all(participant)
    html = client.get(reverse("studies:participant-done", args=[study.slug])).content.decode()
    assert f'content="3;url={url.replace("&", "&amp;")}"' in html
    assert f'href="{url}"' in html
    assert 'data-testid="completion-code"' not in html


def test_pages_without_a_session_send_people_back_to_their_link(client):
    study = factories.make_class_discrimination_study()
    for name in ("participant-trial", "participant-instructions", "participant-questionnaire", "participant-done"):
        res = client.get(reverse(f"studies:{name}", args=[study.slug]))
        assert res.status_code == 403 and b"open the study link" in res.content
    res = answer(client, study, {"idempotency_key": str(uuid.uuid4())})
    assert res.status_code == 403 and res.json()["ok"] is False


def test_a_forged_cookie_is_ignored(client):
    from studies.participants.views import cookie_name

    study = factories.make_class_discrimination_study()
    victim = factories.make_participant(study)
    client.cookies[cookie_name(study)] = victim.token  # unsigned: refused
    assert client.get(reverse("studies:participant-trial", args=[study.slug])).status_code == 403


def test_questionnaire_before_the_last_trial_is_refused(client):
    study = factories.make_class_discrimination_study()
    consent(client, study)
    res = client.post(reverse("studies:participant-questionnaire", args=[study.slug]), {"comment": "x"})
    assert res.status_code == 302 and res.url.endswith("/instructions/")
    assert Participant.objects.get(study=study).status == ParticipantStatus.ACTIVE


def test_participant_pages_do_not_need_redis(client, monkeypatch):
    import redis.connection

    def refuse(*args, **kwargs):
        raise redis.exceptions.ConnectionError("Redis is down (test)")

    monkeypatch.setattr(redis.connection.AbstractConnection, "connect", refuse)
    study = factories.make_trust_study()
    participant = consent(client, study)
    while (a := current(participant)) is not None:
        assert client.get(reverse("studies:participant-trial", args=[study.slug])).status_code == 200
        assert answer(client, study, factories.good_answer(a)).status_code == 200
    res = client.post(reverse("studies:participant-questionnaire", args=[study.slug]), {"comment": ""})
    assert client.get(res.url).status_code == 200


def test_security_headers_on_participant_pages(client):
    study = factories.make_class_discrimination_study()
    res = client.get(start_url(study))
    csp = res.headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert res.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in res.headers["Cache-Control"]
    consent(client, study)
    cookie = next(m for name, m in client.cookies.items() if name.startswith("visexp_p"))
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == f"/s/{study.slug}/"
    participant = Participant.objects.get(study=study)
    assert participant.token not in cookie.value.split(":")[1:]  # token, then signature
    assert len(participant.token) >= 32
