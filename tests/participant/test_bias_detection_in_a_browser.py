"""Bias detection played in a real Chromium: a set of pictures per trial, each with its prediction;
the reliance and the confidence answered by click or by key, one reload in the middle; exactly one
answer per trial, all of them right."""

import pytest

from studies.models import Participant, Response
from tests.participant.test_browser import SCREENSHOTS, current_assignment, finish, start, wait_for_trial
from tests.support import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_play_bias_detection_with_keys_clicks_and_a_reload(page, site):
    study = factories.make_bias_study(trials_per_participant=4, attention_checks=1)
    start(page, site, study)
    total = 5
    for k in range(1, total + 1):
        wait_for_trial(page, k)
        a = current_assignment(study)
        assert page.get_by_test_id("stimulus").count() == len(a.trial.payload["image_ids"])
        assert page.get_by_test_id("prediction").count() == len(a.trial.payload["image_ids"])
        assert page.get_by_test_id("submit-answer").is_disabled()
        if k == 3:
            page.reload()  # nothing was sent: the same trial again, nothing recorded
            wait_for_trial(page, 3)
            assert Response.objects.count() == 2
        value = a.trial.payload.get("expected_choice") or a.trial.payload["declared"]
        question = lambda name: page.locator(f"[data-testid=question][data-name={name}]")  # noqa: E731
        if k % 2:
            question("reliance").locator(f'[data-testid=option][data-value="{value}"]').click()
            assert page.get_by_test_id("submit-answer").is_disabled()  # the confidence is still open
            question("confidence").locator('[data-testid=option][data-value="4"]').click()
            if k == 1:
                page.screenshot(path=str(SCREENSHOTS / "bias_detection_trial.png"))
            page.get_by_test_id("submit-answer").click()
        else:
            key = str(list(a.option_order).index(value) + 1)
            for pressed in (key, "4"):  # keys fill the first open question
                page.keyboard.press(pressed)
            page.keyboard.press("Enter")
        if k < total:
            wait_for_trial(page, k + 1)
    finish(page)
    page.get_by_test_id("completion-code").wait_for()
    p = Participant.objects.get(study=study)
    responses = Response.objects.filter(assignment__participant=p)
    assert responses.count() == total == p.answered_count
    assert all(r.correct and r.confidence == 4 for r in responses)
    assert not page.js_errors
