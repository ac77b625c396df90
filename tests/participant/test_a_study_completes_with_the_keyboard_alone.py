"""Studies completed in Chromium with the keyboard alone (Tab, Shift+Tab, the arrow keys, Space,
Enter and the kinds' number keys; never a click): the focus shows at every stop, every stimulus has
an alt text that does not name the answer, and the rating scales are radio groups named by their
question, each option named by its label, one Tab stop each."""

import pytest

from studies.kinds import trust
from studies.models import Participant, ParticipantStatus, Response
from tests.participant.test_browser import current_assignment
from tests.support import factories
from tests.support.accessibility import (
    assert_stimuli_described,
    focused,
    tab_to,
    wait_for_any_trial,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def consent_and_start(page, site, study):
    page.goto(f"{site}/s/{study.slug}/")
    tab_to(page, "[data-testid=consent-accept]")
    page.keyboard.press("Enter")
    page.get_by_test_id("continue").wait_for()
    tab_to(page, "[data-testid=continue]")
    page.keyboard.press("Enter")
    wait_for_any_trial(page)


def comment_and_finish(page, study):
    page.get_by_test_id("comment").wait_for()
    tab_to(page, "[data-testid=comment]")
    page.keyboard.type("Typed, not clicked.")
    tab_to(page, "[data-testid=submit]")
    page.keyboard.press("Enter")
    page.get_by_test_id("completion-code").wait_for()
    participant = Participant.objects.get(study=study)
    assert (participant.status, participant.comment) == (ParticipantStatus.COMPLETED, "Typed, not clicked.")
    return participant


def wait_for_next(page, number):
    page.wait_for_function(
        """n => { const p = document.querySelector('[data-testid=progress]');
                  return document.readyState === 'complete' && !(p && p.textContent.includes('Trial ' + n + ' ')); }""",
        arg=number,
    )


def test_class_discrimination_with_tab_shift_tab_space_and_number_keys(page, site):
    study = factories.make_class_discrimination_study(trials_per_participant=3)
    consent_and_start(page, site, study)
    for k in range(1, 5):
        wait_for_any_trial(page)
        a = current_assignment(study)
        assert_stimuli_described(page, a.option_order)
        answer = f'[data-testid=option][data-value="{a.trial.target_class}"]'
        if k == 1:
            page.keyboard.press(str(a.option_order.index(a.trial.target_class) + 1))
        elif k == 2:
            tab_to(page, answer)
            page.keyboard.press("Space")
        else:
            tab_to(page, "[data-testid=leave-study]")  # past the options, then back to the answer
            tab_to(page, answer, back=True)
            page.keyboard.press("Enter")
        wait_for_next(page, k)
    participant = comment_and_finish(page, study)
    responses = Response.objects.filter(assignment__participant=participant)
    assert responses.count() == 4 and all(r.correct for r in responses)
    assert not page.js_errors


def test_trust_with_tab_and_the_arrow_keys_in_its_radio_group(page, site):
    study = factories.make_trust_study(trials_per_participant=3, attention_checks=1)
    consent_and_start(page, site, study)
    values = [str(v) for v, _ in trust.SCALE]
    for k in range(1, 5):
        wait_for_any_trial(page)
        a = current_assignment(study)
        assert_stimuli_described(page, [a.trial.target_class])
        group = page.get_by_role("radiogroup", name=trust.QUESTION)
        for value, label in trust.SCALE:
            radio = group.get_by_role("radio", name=label)
            assert radio.get_attribute("data-value") == str(value) and radio.get_attribute("aria-checked") == "false"
        assert group.locator("[role=radio]:not([tabindex='-1'])").count() == 1  # one Tab stop for the group
        value = str(
            a.trial.payload["expected_rating"] if a.is_attention_check else (-2 if a.presentation["swapped"] else 2)
        )
        tab_to(page, "[role=radio]")
        assert focused(page, "data-value") == values[0]
        page.keyboard.press("ArrowUp")  # wraps round to the last
        assert focused(page, "data-value") == values[-1]
        for _ in range(values.index(value) + 1):
            page.keyboard.press("ArrowDown")
        assert focused(page, "data-value") == value
        assert group.locator("[aria-checked=true]").count() == 0  # moving never answers
        assert Response.objects.count() == k - 1
        page.keyboard.press("Space" if k % 2 else "Enter")
        wait_for_next(page, k)
    participant = comment_and_finish(page, study)
    responses = Response.objects.filter(assignment__participant=participant).select_related("assignment")
    assert responses.count() == 4
    assert all(r.score == 2 for r in responses if not r.assignment.is_attention_check)
    assert all(r.correct for r in responses if r.assignment.is_attention_check)
    assert not page.js_errors


def test_a_trial_of_several_questions_with_tab_space_the_arrow_keys_and_enter(page, site):
    study = factories.make_hive_study("hive_distinction", trials_per_participant=1, attention_checks=0)
    consent_and_start(page, site, study)
    assert_stimuli_described(page, factories.CATEGORIES)
    questions = page.get_by_test_id("question")
    for q in questions.all():
        name = q.get_attribute("data-name")
        if q.locator("[role=radio]").count():
            # Reached with Tab: the group's first option; the arrows then move and check.
            tab_to(page, f'[role=radio][data-question="{name}"]')
            page.keyboard.press("ArrowRight")
            page.keyboard.press("ArrowRight")
            checked = q.locator("[aria-checked=true]")
            assert checked.get_attribute("data-value") == "3" and focused(page, "data-value") == "3"
        else:
            tab_to(page, f'[data-testid=option][data-question="{name}"][data-value="2"]')
            page.keyboard.press("Space")
            assert q.locator("[aria-pressed=true]").get_attribute("data-value") == "2"
    page.keyboard.press("Enter")
    wait_for_next(page, 1)
    participant = comment_and_finish(page, study)
    (response,) = Response.objects.filter(assignment__participant=participant)
    assert response.confidence == 3 and response.answer["correct_confidence"] == 3
    assert not page.js_errors
