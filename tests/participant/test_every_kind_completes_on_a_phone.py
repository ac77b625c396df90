"""A phone (390 x 844 CSS pixels, touch) completes a study of every task kind, consent to debrief:
no page scrolls sideways, every stimulus fits the screen's width and every option can be reached."""

import pytest

from studies.models import Participant, ParticipantStatus
from tests.participant.test_browser import SCREENSHOTS
from tests.support.accessibility import (
    STUDY_OF_KIND,
    answer_any,
    assert_no_horizontal_scroll,
    assert_stimuli_fit,
    trial_number,
    wait_for_any_trial,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


def test_every_kind_completes_on_a_phone(browser, site):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    studies = {kind: build() for kind, build in sorted(STUDY_OF_KIND.items())}
    phone = browser.new_context(**PHONE)
    phone.set_default_timeout(15_000)
    errors = []
    try:
        page = phone.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        for kind, study in studies.items():
            page.goto(f"{site}/s/{study.slug}/")
            assert_no_horizontal_scroll(page, f"the consent page of {kind}")
            page.get_by_test_id("consent-accept").tap()
            page.get_by_test_id("continue").wait_for()
            assert_no_horizontal_scroll(page, f"the instructions of {kind}")
            page.get_by_test_id("continue").tap()
            wait_for_any_trial(page)
            while page.get_by_test_id("progress").count():
                wait_for_any_trial(page)
                what = f"trial {trial_number(page)} of {kind}"
                assert not page.locator("#window-warning").is_visible(), what
                assert_no_horizontal_scroll(page, what)
                assert_stimuli_fit(page, what)
                for control in page.locator("[data-testid=option], [data-testid=submit-answer]").all():
                    box = control.bounding_box()
                    assert box["x"] >= 0 and box["x"] + box["width"] <= 390, f"an option of {what} is off screen"
                if trial_number(page) == 1:
                    page.screenshot(path=str(SCREENSHOTS / f"phone_{kind}.png"), full_page=True)
                answer_any(page)
            page.get_by_test_id("comment").wait_for()
            assert_no_horizontal_scroll(page, f"the comment page of {kind}")
            page.get_by_test_id("submit").tap()
            page.get_by_test_id("completion-code").wait_for()
            assert_no_horizontal_scroll(page, f"the debrief of {kind}")
            assert Participant.objects.get(study=study).status == ParticipantStatus.COMPLETED, kind
    finally:
        phone.close()
    assert not errors
