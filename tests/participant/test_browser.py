"""Whole studies played in a real Chromium (Playwright) against live_server."""

from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from studies.models import Participant, ParticipantStatus, Response
from studies.participants.privacy import external_id_for_storage
from tests.support import factories
from tests.support.browser import wait_until_answerable

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Written on every run (not into docs/, whose committed copies the README shows).
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "test-screenshots"


@pytest.fixture(autouse=True)
def _screenshot_folder():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)


def current_assignment(study):
    participant = Participant.objects.get(study=study)
    return participant.assignments.select_related("trial").filter(response__isnull=True).order_by("position").first()


def wait_for_trial(page, number):
    try:
        page.get_by_test_id("progress").filter(has_text=f"Trial {number} of").wait_for()
    except PlaywrightTimeoutError as err:
        # What the page shows instead (its progress line, and an error or "Reconnecting..." in its
        # status line): a refused or unsent answer is then told apart from a slow page.
        status = page.locator("#trial-status")
        said = status.first.inner_text(timeout=1000) if status.count() else ""
        progress = page.get_by_test_id("progress")
        shown = progress.first.inner_text(timeout=1000) if progress.count() else ""
        raise AssertionError(
            f"trial {number} never showed on {getattr(page, 'url', 'the frame')}: {shown!r}, {said!r}"
        ) from err
    wait_until_answerable(page)


def answer_class_discrimination(page, study, use_keyboard=False):
    a = current_assignment(study)
    if use_keyboard:
        page.keyboard.press(str(a.option_order.index(a.trial.target_class) + 1))
    else:
        page.locator(f'[data-testid=choice][data-value="{a.trial.target_class}"]').click()
    return a


def answer_trust(page, study):
    a = current_assignment(study)
    if a.is_attention_check:
        value = a.trial.payload["expected_rating"]
        assert page.get_by_test_id("instruction").inner_text() == a.trial.payload["instruction"]
    else:
        value = -2 if a.presentation["swapped"] else 2  # the stronger network, wherever it is shown
    page.locator(f'[data-testid=rating][data-value="{value}"]').click()
    return a


def start(page, site, study, query=""):
    page.goto(f"{site}/s/{study.slug}/{query}")
    page.get_by_test_id("consent-accept").click()
    page.get_by_test_id("continue").click()


def finish(page, comment="All clear."):
    page.get_by_test_id("comment").fill(comment)
    page.get_by_test_id("submit").click()


def test_play_a_whole_class_discrimination_study_with_a_prolific_link(page, site):
    study = factories.make_class_discrimination_study(trials_per_participant=4)
    start(page, site, study, "?PROLIFIC_PID=abc123&STUDY_ID=s1&SESSION_ID=x9")
    total = study.trials_per_participant + 1
    for k in range(1, total + 1):
        wait_for_trial(page, k)
        stimuli = page.get_by_test_id("stimulus")
        assert stimuli.count() == 1
        assert stimuli.first.evaluate("img => img.complete && img.naturalWidth > 0")
        assert "Which of the two object categories is depicted in the image?" in page.content()
        if k == 2:
            page.screenshot(path=str(SCREENSHOTS / "class_discrimination_trial.png"))
        answer_class_discrimination(page, study, use_keyboard=(k % 2 == 0))
    finish(page)
    assert page.get_by_test_id("completion-code").inner_text() == "C0MPL3TE"
    p = Participant.objects.get(study=study)
    assert (p.external_id, p.status, p.comment) == (
        external_id_for_storage("prolific", "abc123"),
        ParticipantStatus.COMPLETED,
        "All clear.",
    )
    responses = Response.objects.filter(assignment__participant=p)
    assert responses.count() == total and all(r.correct for r in responses)
    assert all(r.rt_ms is not None and r.rt_ms < 60_000 for r in responses)
    assert not page.js_errors


def test_play_a_whole_trust_study_and_follow_the_redirect(page, site):
    back = f"{site}/healthz?cc=TRUST42"  # stands in for https://app.prolific.com/submissions/complete?cc=...
    study = factories.make_trust_study(
        trials_per_participant=5, attention_checks=2, completion_url=back, completion_code=""
    )
    start(page, site, study, "?PROLIFIC_PID=trusty")
    total = 7
    for k in range(1, total + 1):
        wait_for_trial(page, k)
        assert page.get_by_test_id("stimulus").count() == 2
        assert [e.inner_text() for e in page.locator("figcaption").all()] == ["Model 1", "Model 2"]
        values = [e.get_attribute("data-value") for e in page.get_by_test_id("rating").all()]
        assert values == ["2", "1", "0", "-1", "-2"]
        if k == 3:
            page.screenshot(path=str(SCREENSHOTS / "trust_trial.png"))
        answer_trust(page, study)
    finish(page, "")
    page.wait_for_url(back, timeout=15_000)
    p = Participant.objects.get(study=study)
    responses = Response.objects.filter(assignment__participant=p).select_related("assignment")
    assert responses.count() == total
    for r in responses:
        if r.assignment.is_attention_check:
            assert r.correct is True
        else:
            assert r.score == 2 and r.correct is None


def test_reload_mid_study_resumes_at_the_first_unanswered_trial(page, site):
    study = factories.make_class_discrimination_study(trials_per_participant=4)
    start(page, site, study)
    for k in (1, 2):
        wait_for_trial(page, k)
        answer_class_discrimination(page, study)
    wait_for_trial(page, 3)
    page.reload()
    wait_for_trial(page, 3)
    page.goto(f"{site}/s/{study.slug}/")  # the original link again, days later
    wait_for_trial(page, 3)
    assert Response.objects.count() == 2


def test_double_click_records_exactly_one_answer(page, site):
    study = factories.make_class_discrimination_study()
    start(page, site, study)
    wait_for_trial(page, 1)
    a = current_assignment(study)
    page.locator(f'[data-testid=choice][data-value="{a.trial.target_class}"]').dblclick()
    wait_for_trial(page, 2)
    assert Response.objects.filter(assignment__participant__study=study).count() == 1


def test_a_network_error_shows_reconnecting_and_retries_with_the_same_key(page, site):
    study = factories.make_class_discrimination_study()
    start(page, site, study)
    wait_for_trial(page, 1)
    sent = []

    def flaky(route):
        sent.append(route.request.post_data)
        if len(sent) == 1:
            # The answer reaches the server, but the reply is lost on the way back.
            route.fetch()
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/answer/", flaky)
    a = current_assignment(study)
    page.locator(f'[data-testid=choice][data-value="{a.trial.target_class}"]').click()
    page.get_by_test_id("status").filter(has_text="Reconnecting").wait_for()
    wait_for_trial(page, 2)
    keys = {part.split("=", 1)[1] for body in sent for part in body.split("&") if part.startswith("idempotency_key=")}
    assert len(sent) >= 2 and len(keys) == 1
    assert Response.objects.filter(assignment__participant__study=study).count() == 1


def test_phone_width_and_minimum_window_size(browser, site):
    study = factories.make_trust_study(min_window_width=900, min_window_height=500)
    phone = browser.new_context(viewport={"width": 375, "height": 740})
    try:
        page = phone.new_page()
        page.goto(f"{site}/s/{study.slug}/")
        page.get_by_test_id("consent-accept").click()
        page.get_by_test_id("continue").wait_for()
        page.locator("#window-warning").wait_for(state="visible")  # on the instructions already
        page.goto(f"{site}/s/{study.slug}/trial/")
        page.get_by_test_id("progress").wait_for()
        page.locator("#window-warning").wait_for(state="visible")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.set_viewport_size({"width": 1000, "height": 700})
        page.locator("#window-warning").wait_for(state="hidden")
        for button in page.get_by_test_id("rating").all():
            assert button.is_visible()
    finally:
        phone.close()
    plain = factories.make_class_discrimination_study()
    phone = browser.new_context(viewport={"width": 360, "height": 700})
    try:
        page = phone.new_page()
        start(page, site, plain)
        wait_for_trial(page, 1)
        assert not page.locator("#window-warning").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        answer_class_discrimination(page, plain)
        wait_for_trial(page, 2)
    finally:
        phone.close()


def test_without_javascript_the_study_still_works(browser, site):
    study = factories.make_class_discrimination_study(trials_per_participant=2)
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        start(page, site, study)
        for k in range(1, 4):
            page.get_by_test_id("progress").filter(has_text=f"Trial {k} of 3").wait_for()
            answer_class_discrimination(page, study)
        finish(page)
        assert page.get_by_test_id("completion-code").inner_text() == "C0MPL3TE"
    finally:
        context.close()
    assert Response.objects.filter(assignment__participant__study=study).count() == 3
