"""Occlusion 2-AFC played in a real Chromium: both regions drawn over the stimulus where the trial
says, region and confidence in one click or one key (1-6), one reload in the middle; exactly one
answer per trial, scored against the network's truth with the confidence given."""

import pytest

from studies.models import Response
from tests.participant.test_browser import SCREENSHOTS, current_assignment, finish, start, wait_for_trial
from tests.support import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
KEYS = {"A3": "1", "A2": "2", "A1": "3", "B1": "4", "B2": "5", "B3": "6"}


def test_play_occlusion_2afc_with_clicks_keys_and_a_reload(page, site):
    study = factories.make_occlusion_study(trials_per_participant=4, attention_checks=1)
    start(page, site, study)
    total = 5
    for k in range(1, total + 1):
        wait_for_trial(page, k)
        assert page.get_by_test_id("stimulus").count() == 1
        assert page.get_by_test_id("option").count() == 6
        assert page.get_by_test_id("submit-answer").count() == 0  # one click answers both
        a = current_assignment(study)
        payload = a.trial.payload
        figure = page.get_by_test_id("stimulus").bounding_box()
        for name in ("A", "B"):
            region = page.locator(f'[data-testid=region][data-name="{name}"]')
            box, (x0, y0, x1, y1) = region.bounding_box(), payload["regions"][name]
            # Drawn over the stimulus where the truth was measured (within 4 px: the stroke is on the edge).
            assert abs(box["x"] - (figure["x"] + x0 * figure["width"])) <= 4
            assert abs(box["width"] - (x1 - x0) * figure["width"]) <= 4
            assert abs(box["y"] - (figure["y"] + y0 * figure["height"])) <= 4
            assert abs(box["height"] - (y1 - y0) * figure["height"]) <= 4
        value = f"{payload['answer']}{1 + k % 3}"
        if k == 1:
            page.screenshot(path=str(SCREENSHOTS / "occlusion_2afc_trial.png"))
        if k == 3:
            page.reload()  # nothing was sent: the same trial again, nothing recorded
            wait_for_trial(page, 3)
            assert Response.objects.count() == 2
        if k % 2:
            page.locator(f'[data-testid=option][data-value="{value}"]').click()
        else:
            page.keyboard.press(KEYS[value])
        if k < total:
            wait_for_trial(page, k + 1)
    finish(page)
    page.get_by_test_id("completion-code").wait_for()
    responses = Response.objects.filter(assignment__participant__study=study).order_by("assignment__position")
    assert responses.count() == total and all(r.correct for r in responses)
    assert [r.confidence for r in responses] == [1 + k % 3 for k in range(1, total + 1)]
    assert not page.js_errors
