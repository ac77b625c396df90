"""A trust study in Chromium with a reload in the middle and a double-click: one answer per trial,
every one scored toward the stronger network wherever it was shown."""

import pytest

from studies.models import Response
from tests.participant.test_browser import current_assignment, finish, start, wait_for_trial

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_trust_survives_a_reload_and_a_double_click(page, site):
    from tests.support import factories

    study = factories.make_trust_study(trials_per_participant=4, attention_checks=1)
    start(page, site, study)
    total = 5
    for k in range(1, total + 1):
        wait_for_trial(page, k)
        if k == 3:
            page.reload()
            wait_for_trial(page, 3)
            assert Response.objects.count() == 2
        a = current_assignment(study)
        if a.is_attention_check:
            value = a.trial.payload["expected_rating"]
        else:
            value = -2 if a.presentation["swapped"] else 2
        option = page.locator(f'[data-testid=option][data-value="{value}"]')
        if k == 2:
            option.dblclick()
        else:
            option.click()
    finish(page)
    page.get_by_test_id("completion-code").wait_for()
    responses = Response.objects.filter(assignment__participant__study=study)
    assert responses.count() == total
    assert all(r.score == 2 for r in responses if not r.assignment.is_attention_check)
    assert all(r.correct for r in responses if r.assignment.is_attention_check)
    assert not page.js_errors
