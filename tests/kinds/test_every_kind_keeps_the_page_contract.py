"""Every kind's trial page keeps the one contract (README, "Trial pages"): questions with their
name, options with their value, one element per panel, a submit button when there are several
questions; and every kind plays through the real pages, from consent to the debrief."""

import re

import pytest

from studies.kinds import KINDS, kind_of
from studies.models import ParticipantStatus, Response
from tests.kinds.conftest import KIND_STUDIES, consent, post_answer, trial_html
from tests.support import factories

pytestmark = pytest.mark.django_db


def test_every_registered_kind_has_a_study_here():
    assert set(KIND_STUDIES) == set(KINDS)


@pytest.mark.parametrize("kind", sorted(KIND_STUDIES))
def test_the_trial_page_keeps_the_contract(client, kind):
    study = KIND_STUDIES[kind]()
    participant = consent(client, study)
    for _ in range(participant.trial_count):
        html = trial_html(client, study)
        assignment = participant.assignments.get(position=participant.answered_count)
        questions = kind_of(study).questions(assignment, ())
        names = re.findall(r'data-testid="question" data-name="([^"]+)"', html)
        assert names == [q.name for q in questions]
        for q in questions:
            shown = re.findall(rf'data-testid="option" data-question="{q.name}" data-value="([^"]+)"', html)
            assert shown == [o.value for o in q.options]
        assert html.count('data-testid="stimulus"') == assignment.trial.panels.count()
        assert ('data-testid="submit-answer"' in html) == (len(questions) > 1)
        assert post_answer(client, study, factories.good_answer(assignment)).status_code == 200
        participant.refresh_from_db()
    assert participant.answered_count == participant.trial_count
    assert Response.objects.filter(assignment__participant=participant).count() == participant.trial_count
    participant.refresh_from_db()
    assert participant.status == ParticipantStatus.ACTIVE  # the questionnaire is next


def test_the_paper_kinds_keep_their_older_hooks(client):
    cd, trust = factories.make_class_discrimination_study(), factories.make_trust_study()
    consent(client, cd)
    assert 'data-testid="choice"' in trial_html(client, cd)
    consent(client, trust)
    assert re.findall(r'data-testid="rating" data-value="(-?\d)"', trial_html(client, trust)) == [
        "2",
        "1",
        "0",
        "-1",
        "-2",
    ]
