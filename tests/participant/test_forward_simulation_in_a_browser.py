"""Forward simulation played in a real Chromium: learning trials show the decision (and, in the
explanation arm, the map) and go on with Next or its key; test trials show the photograph alone and
take the predicted class by click or number key; one reload in the middle resends nothing; exactly one
answer per trial, the test answers scored against the network's decision."""

import pytest

from studies.models import Participant, Response
from tests.participant.test_browser import SCREENSHOTS, current_assignment, finish, start, wait_for_trial
from tests.support import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_play_forward_simulation_with_clicks_keys_and_a_reload(page, site):
    study = factories.make_forward_simulation_study()
    start(page, site, study)
    total = 9  # 2 rounds of 2 learning + 2 test, and one attention check
    for k in range(1, total + 1):
        wait_for_trial(page, k)
        a = current_assignment(study)
        block = a.presentation["block"]
        assert page.get_by_test_id("block").get_attribute("data-block") == block
        assert page.get_by_test_id("stimulus").count() == 1
        if k == 3:
            page.reload()  # nothing was sent: the same trial again, nothing recorded
            wait_for_trial(page, 3)
            assert Response.objects.count() == 2
        if block == "learning":
            assert page.get_by_test_id("class-name").inner_text() == a.trial.target_class
            if k == 1:
                page.screenshot(path=str(SCREENSHOTS / "forward_simulation_learning.png"))
            if k % 2:
                page.locator('[data-testid=option][data-value="ok"]').click()
            else:
                page.keyboard.press("n")
        else:
            assert page.get_by_test_id("class-name").count() == 0  # the test shows no decision
            value = a.trial.payload.get("expected_class") or a.trial.target_class
            options = list(a.option_order)
            if k % 2:
                page.locator(f'[data-testid=option][data-value="{value}"]').click()
            else:
                page.keyboard.press(str(options.index(value) + 1))
        if k < total:
            wait_for_trial(page, k + 1)
    finish(page)
    page.get_by_test_id("completion-code").wait_for()
    p = Participant.objects.get(study=study)
    responses = Response.objects.filter(assignment__participant=p)
    assert responses.count() == total == p.answered_count
    learning = [r for r in responses if r.assignment.presentation["block"] == "learning"]
    tests = [r for r in responses if r.assignment.presentation["block"] == "test"]
    assert len(learning) == 4 and all(r.correct is None for r in learning)
    assert len(tests) == 5 and all(r.correct for r in tests)
    assert not page.js_errors
