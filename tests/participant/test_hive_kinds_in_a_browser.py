"""The two HIVE kinds played in a real Chromium: every question answered by click or by key, one
reload in the middle, one double-click; exactly one answer per trial, all of them right."""

import pytest

from studies.models import Participant, Response
from tests.participant.test_browser import SCREENSHOTS, current_assignment, finish, start, wait_for_trial
from tests.support import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def distinction_values(a):
    order = list(a.option_order)
    expected = a.trial.payload.get("expected_panel")
    predicted = expected or order.index(a.trial.target_class) + 1
    correct = expected or order.index(a.trial.payload["true_class"]) + 1
    return str(predicted), str(correct)


def test_play_hive_distinction_with_keys_clicks_a_reload_and_a_double_click(page, site):
    study = factories.make_hive_study("hive_distinction", trials_per_participant=4, attention_checks=1)
    start(page, site, study)
    total = 5
    for k in range(1, total + 1):
        wait_for_trial(page, k)
        assert page.get_by_test_id("stimulus").count() == 4
        assert page.get_by_test_id("submit-answer").is_disabled()
        if k == 3:
            page.reload()  # nothing was sent: the same trial again, nothing recorded
            wait_for_trial(page, 3)
            assert Response.objects.count() == 2
        a = current_assignment(study)
        predicted, correct = distinction_values(a)
        if k % 2:
            question = lambda name: page.locator(f"[data-testid=question][data-name={name}]")  # noqa: E731
            question("predicted").locator(f'[data-testid=option][data-value="{predicted}"]').click()
            question("confidence").locator('[data-testid=option][data-value="4"]').click()
            question("correct_class").locator(f'[data-testid=option][data-value="{correct}"]').click()
            assert page.get_by_test_id("submit-answer").is_disabled()  # one question still open
            question("correct_confidence").locator('[data-testid=option][data-value="5"]').click()
            if k == 1:
                page.screenshot(path=str(SCREENSHOTS / "hive_distinction_trial.png"))
                page.get_by_test_id("submit-answer").dblclick()
            else:
                page.get_by_test_id("submit-answer").click()
        else:
            for key in (predicted, "4", correct, "5"):  # keys fill the first open question
                page.keyboard.press(key)
            page.keyboard.press("Enter")
        if k < total:
            wait_for_trial(page, k + 1)
    finish(page)
    page.get_by_test_id("completion-code").wait_for()
    p = Participant.objects.get(study=study)
    responses = Response.objects.filter(assignment__participant=p)
    assert responses.count() == total == p.answered_count
    main = responses.filter(assignment__is_attention_check=False)
    assert all(r.correct and r.score == 1.0 and r.confidence == 4 for r in main)
    assert all(r.answer["correct_confidence"] == 5 for r in main)
    assert not page.js_errors


def test_play_hive_agreement_with_a_double_click_and_a_reload(page, site):
    study = factories.make_hive_study("hive_agreement", trials_per_participant=4, attention_checks=1)
    start(page, site, study)
    total = 5
    for k in range(1, total + 1):
        wait_for_trial(page, k)
        assert page.get_by_test_id("stimulus").count() == 1
        assert page.get_by_test_id("submit-answer").count() == 0  # one question: the click answers
        a = current_assignment(study)
        value = a.trial.payload.get("expected_agreement") or (1 if a.trial.payload["prediction_correct"] else 4)
        option = page.locator(f'[data-testid=option][data-value="{value}"]')
        if k == 2:
            option.dblclick()
        elif k == 4:
            page.reload()
            wait_for_trial(page, 4)
            page.keyboard.press(str(value))
        else:
            option.click()
        if k == 1:
            page.screenshot(path=str(SCREENSHOTS / "hive_agreement_trial.png"))
    finish(page)
    page.get_by_test_id("completion-code").wait_for()
    responses = Response.objects.filter(assignment__participant__study=study)
    assert responses.count() == total and all(r.correct for r in responses)
    assert not page.js_errors
