"""axe-core, run in Chromium on every participant page and state, finds no violation of impact
serious or critical: eligibility questions, consent, declined, instructions, the trial page of each
task kind (each block of forward simulation, the second question open on the kinds that ask two or
more, the status line showing, the notice asking for a larger window), stopping early, the comment
page, the debrief (with a completion code, or MTurk's submit form), MTurk's preview and the error
page."""

import pytest

from studies.participants.flow import MTURK_PREVIEW_ASSIGNMENT
from tests.support.accessibility import (
    STUDY_OF_KIND,
    answer_any,
    answer_first_of_several_questions,
    assert_accessible,
    wait_for_any_trial,
)
from tests.support.factories import make_class_discrimination_study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENERS = [
    {"name": "vision", "question": "Do you have normal vision?", "options": ["Yes", "No"], "eligible": ["Yes"]}
]


def test_the_pages_around_the_trials(page, site):
    study = make_class_discrimination_study(
        trials_per_participant=1,
        attention_checks=0,
        screeners=SCREENERS,
        mturk_environment="sandbox",
        min_window_width=900,
        min_window_height=500,
    )
    page.goto(f"{site}/s/no-such-study/")
    assert_accessible(page, "the error page")
    page.goto(f"{site}/s/{study.slug}/?assignmentId={MTURK_PREVIEW_ASSIGNMENT}&hitId=H1")
    page.get_by_test_id("mturk-preview").wait_for()
    assert_accessible(page, "the MTurk preview")
    link = f"{site}/s/{study.slug}/?workerId=W1&assignmentId=A-1&hitId=H1"
    # A decline is final for its worker id: the person who declines is another worker.
    page.goto(f"{site}/s/{study.slug}/?workerId=W0&assignmentId=A-0&hitId=H1")
    page.get_by_test_id("screener").wait_for()
    assert_accessible(page, "the eligibility questions")
    page.locator('[data-testid=screener-option][data-value="Yes"]').check()
    page.get_by_test_id("screener-submit").click()
    page.get_by_test_id("consent-decline").wait_for()
    assert_accessible(page, "the consent page")
    page.get_by_test_id("consent-decline").click()
    page.get_by_test_id("ending").wait_for()
    assert_accessible(page, "the page after declining")

    page.goto(link)
    page.locator('[data-testid=screener-option][data-value="Yes"]').check()
    page.get_by_test_id("screener-submit").click()
    page.get_by_test_id("consent-accept").click()
    page.get_by_test_id("continue").wait_for()
    assert_accessible(page, "the instructions")
    page.get_by_test_id("continue").click()
    wait_for_any_trial(page)
    page.get_by_test_id("leave-study").click()
    page.get_by_test_id("return-instructions").wait_for()
    assert_accessible(page, "the page for stopping early")
    page.get_by_test_id("continue").click()  # back where the study resumes: its instructions
    page.get_by_test_id("continue").click()
    wait_for_any_trial(page)
    page.set_viewport_size({"width": 800, "height": 600})
    page.locator("#window-warning").wait_for()
    assert_accessible(page, "a trial page asking for a larger window")
    page.set_viewport_size({"width": 1200, "height": 900})
    page.evaluate("""() => { const s = document.getElementById('trial-status');
                             s.textContent = 'Reconnecting…'; s.hidden = false; s.classList.add('error'); }""")
    assert_accessible(page, "a trial page with its status line showing")
    answer_any(page)
    page.get_by_test_id("comment").wait_for()
    assert_accessible(page, "the comment page")
    page.get_by_test_id("submit").click()
    page.get_by_test_id("mturk-submit").wait_for()
    assert_accessible(page, "the debrief with the form that submits the HIT")
    assert not page.js_errors


@pytest.mark.parametrize("kind", sorted(STUDY_OF_KIND))
def test_the_trial_pages_of_each_kind(page, site, kind):
    study = STUDY_OF_KIND[kind]()
    page.goto(f"{site}/s/{study.slug}/")
    page.get_by_test_id("consent-accept").click()
    page.get_by_test_id("continue").wait_for()
    assert_accessible(page, f"the instructions of {kind}")
    page.get_by_test_id("continue").click()
    wait_for_any_trial(page)
    seen = set()
    while page.get_by_test_id("progress").count():
        wait_for_any_trial(page)
        block = page.get_by_test_id("block")
        state = block.get_attribute("data-block") if block.count() else "trial"
        if state not in seen:
            seen.add(state)
            assert_accessible(page, f"a {state} page of {kind}")
            if answer_first_of_several_questions(page):
                assert_accessible(page, f"a {state} page of {kind} with its first question answered")
        answer_any(page)
    assert seen == ({"learning", "test"} if kind == "forward_simulation" else {"trial"})
    page.get_by_test_id("comment").fill("Fine.")
    page.get_by_test_id("submit").click()
    page.get_by_test_id("completion-code").wait_for()
    assert_accessible(page, f"the debrief of {kind}, with its completion code")
    assert not page.js_errors


def test_the_check_fails_and_names_the_violation_on_a_page_that_has_one(browser):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content('<html lang="en"><title>t</title><main><h1>t</h1><img src="data:,"></main></html>')
        with pytest.raises(AssertionError, match=r"\[critical\] image-alt: Images must have alternative text"):
            assert_accessible(page, "a page with a picture without alt text")
    finally:
        context.close()
