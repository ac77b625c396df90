"""Recruitment endings in a real Chromium: every Prolific outcome lands on Prolific's completion URL
with its own code, and an MTurk assignment is posted to externalSubmit (a local receiving endpoint
standing in for MTurk's sandbox)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from django.utils import timezone

from studies.models import Outcome, Participant, ParticipantStatus
from studies.participants import flow as participation
from tests.participant.test_browser import current_assignment, finish, start, wait_for_trial
from tests.support import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CODES = factories.RECRUITMENT_CODES
PROLIFIC_PAGE = "https://app.prolific.com/submissions/complete"
SCREENERS = [
    {"name": "vision", "question": "Do you have normal vision?", "options": ["Yes", "No"], "eligible": ["Yes"]}
]


@pytest.fixture
def prolific(page):
    """Prolific's completion page, answered in the browser: the URLs the participant was sent to."""
    arrived = []

    def fulfil(route):
        arrived.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<title>Prolific</title><p>Submission complete</p>")

    page.route(f"{PROLIFIC_PAGE}**", fulfil)
    return arrived


def play(page, study, *, fail_checks=False):
    """Answer every trial by clicking (attention checks wrongly when asked)."""
    participant = Participant.objects.get(study=study)
    for k in range(1, participant.trial_count + 1):
        wait_for_trial(page, k)
        a = current_assignment(study)
        value = a.trial.target_class
        if fail_checks and a.is_attention_check:
            value = next(o for o in a.option_order if o != a.trial.target_class)
        page.locator(f'[data-testid=choice][data-value="{value}"]').click()


def test_a_completed_prolific_participant_is_taken_to_prolific_with_the_completed_code(page, site, prolific):
    study = factories.make_class_discrimination_study(trials_per_participant=2, **CODES)
    start(page, site, study, "?PROLIFIC_PID=pp-done&STUDY_ID=s&SESSION_ID=x")
    play(page, study)
    finish(page)
    page.wait_for_url(f"{PROLIFIC_PAGE}?cc=C0MPL3TE", timeout=15_000)  # the automatic redirect
    assert prolific == [f"{PROLIFIC_PAGE}?cc=C0MPL3TE"]
    assert Participant.objects.get(study=study).outcome == Outcome.COMPLETED
    assert not page.js_errors


def test_failing_two_attention_checks_ends_with_the_failed_checks_code(page, site, prolific):
    study = factories.make_class_discrimination_study(trials_per_participant=2, attention_checks=2, **CODES)
    start(page, site, study, "?PROLIFIC_PID=pp-failed&STUDY_ID=s&SESSION_ID=x")
    play(page, study, fail_checks=True)
    finish(page)
    assert page.get_by_test_id("completion-code").inner_text() == "FAILED22"
    page.get_by_test_id("continue").click()
    page.wait_for_url(f"{PROLIFIC_PAGE}?cc=FAILED22")
    assert Participant.objects.get(study=study).outcome == Outcome.FAILED_CHECKS


def test_screened_out_no_consent_and_timed_out_each_go_to_prolific_with_their_own_code(page, site, prolific):
    screened = factories.make_class_discrimination_study(trials_per_participant=2, screeners=SCREENERS, **CODES)
    page.goto(f"{site}/s/{screened.slug}/?PROLIFIC_PID=pp-screen&STUDY_ID=s&SESSION_ID=x")
    assert page.get_by_test_id("consent-accept").count() == 0
    page.locator('[data-testid=screener-option][data-value="No"]').check()
    page.get_by_test_id("screener-submit").click()
    page.wait_for_url(f"{PROLIFIC_PAGE}?cc=SCREENED1")
    assert Participant.objects.get(study=screened).outcome == Outcome.SCREENED_OUT

    declined = factories.make_class_discrimination_study(trials_per_participant=2, **CODES)
    page.goto(f"{site}/s/{declined.slug}/?PROLIFIC_PID=pp-decline&STUDY_ID=s&SESSION_ID=x")
    page.get_by_test_id("consent-decline").click()
    page.wait_for_url(f"{PROLIFIC_PAGE}?cc=NOCONSENT")
    assert Participant.objects.get(study=declined).outcome == Outcome.NO_CONSENT

    late = factories.make_class_discrimination_study(trials_per_participant=2, time_limit_minutes=5, **CODES)
    start(page, site, late, "?PROLIFIC_PID=pp-late&STUDY_ID=s&SESSION_ID=x")
    wait_for_trial(page, 1)
    Participant.objects.filter(study=late).update(consented_at=timezone.now() - timezone.timedelta(minutes=6))
    page.reload()
    page.wait_for_url(f"{PROLIFIC_PAGE}?cc=TIMEOUT9")
    participant = Participant.objects.get(study=late)
    assert (participant.status, participant.outcome) == (ParticipantStatus.ABANDONED, Outcome.TIMED_OUT)
    assert prolific == [f"{PROLIFIC_PAGE}?cc={code}" for code in ("SCREENED1", "NOCONSENT", "TIMEOUT9")]


@pytest.fixture
def external_submit():
    """A local endpoint standing in for MTurk's externalSubmit: the form posts it receives."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            received.append({"path": self.path, "fields": parse_qs(body, keep_blank_values=True)})
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<title>MTurk</title><p>Your HIT has been submitted.</p>")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/mturk/externalSubmit", received
    finally:
        server.shutdown()
        server.server_close()


def test_an_mturk_assignment_is_posted_to_external_submit(page, site, settings, external_submit):
    url, received = external_submit
    settings.MTURK_EXTERNAL_SUBMIT_URLS = {"sandbox": url, "production": "https://www.mturk.com/mturk/externalSubmit"}
    study = factories.make_class_discrimination_study(trials_per_participant=2, mturk_environment="sandbox", **CODES)

    page.goto(f"{site}/s/{study.slug}/?assignmentId={participation.MTURK_PREVIEW_ASSIGNMENT}&hitId=H1")
    page.get_by_test_id("mturk-preview").wait_for()
    assert page.get_by_test_id("consent-accept").count() == 0 and page.get_by_test_id("stimulus").count() == 0
    assert not Participant.objects.filter(study=study).exists()

    start(page, site, study, "?workerId=W1&assignmentId=A-17&hitId=H1&turkSubmitTo=https%3A%2F%2Fevil.example")
    play(page, study)
    finish(page)
    form = page.get_by_test_id("mturk-submit")
    form.wait_for()
    form.get_by_role("button").click()
    page.get_by_text("Your HIT has been submitted.").wait_for()
    [post] = received
    assert post["path"] == "/mturk/externalSubmit"
    assert post["fields"] == {"assignmentId": ["A-17"], "outcome": ["completed"], "code": ["C0MPL3TE"]}
    assert not page.js_errors
