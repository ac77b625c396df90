"""In Chromium: a participant clicks the withdraw link on a trial page, confirms, and their answers are
gone; the browser can then record nothing more. Both pages pass axe-core."""

import pytest

from studies.models import AuditEntry, Participant, ParticipantStatus, Response
from tests.participant.test_browser import answer_class_discrimination, start, wait_for_trial
from tests.support import factories
from tests.support.accessibility import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_withdrawing_from_a_trial_page_deletes_the_answers(page, site):
    study = factories.make_class_discrimination_study(trials_per_participant=4)
    start(page, site, study, "?PROLIFIC_PID=pp-browser&STUDY_ID=s1&SESSION_ID=x9")
    for k in (1, 2):
        wait_for_trial(page, k)
        answer_class_discrimination(page, study)
    wait_for_trial(page, 3)
    participant = Participant.objects.get(study=study)
    assert Response.objects.filter(assignment__participant=participant).count() == 2

    page.get_by_test_id("withdraw").click()
    page.get_by_test_id("withdraw-confirm").wait_for()
    assert_accessible(page, "the withdrawal's confirmation")
    page.get_by_test_id("withdraw-confirm").click()
    page.get_by_test_id("withdrawn").wait_for()
    assert_accessible(page, "the page after withdrawing")
    assert "Your answers have been deleted" in page.get_by_test_id("message").inner_text()

    participant.refresh_from_db()
    assert participant.status == ParticipantStatus.WITHDRAWN
    assert not Response.objects.filter(assignment__participant=participant).exists()
    assert AuditEntry.objects.filter(action="withdraw", study=study).count() == 1

    page.goto(f"{site}/s/{study.slug}/trial/")  # the cookie is gone: no trial to answer
    assert page.locator("[data-testid=option]").count() == 0
    assert not Response.objects.filter(assignment__participant=participant).exists()
