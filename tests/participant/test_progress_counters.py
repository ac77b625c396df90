"""The participant's progress counters (trial_count, answered_count) agree with the rows they count."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from studies.models import Participant
from studies.participants import flow as participation
from tests.support import factories

progress_migration = importlib.import_module("studies.migrations.0003_participant_progress")


@pytest.mark.django_db
def test_counters_follow_the_answers():
    study = factories.make_class_discrimination_study()
    participant = factories.make_participant(study)
    assert participant.trial_count == participant.assignments.count() > 1
    assert participant.answered_count == 0
    first = participation.current_assignment(participant)
    participation.do_answer(participant, factories.good_answer(first))
    participant.refresh_from_db()
    assert participant.answered_count == 1
    assert participation.current_assignment(participant).position == first.position + 1


@pytest.mark.django_db
def test_a_stale_participant_object_cannot_skip_or_repeat_a_trial():
    study = factories.make_class_discrimination_study()
    participant = factories.make_participant(study)
    stale = Participant.objects.get(pk=participant.pk)
    first = participation.current_assignment(participant)
    participation.do_answer(participant, factories.good_answer(first))
    # `stale` still says nothing was answered: answering the first trial again with a new key is refused.
    with pytest.raises(participation.ParticipationError) as refused:
        participation.do_answer(stale, factories.good_answer(first))
    assert refused.value.status == 409
    assert participant.assignments.filter(response__isnull=False).count() == 1


@pytest.mark.django_db
def test_the_migration_counts_existing_progress():
    study = factories.make_trust_study()
    done = factories.answer_all(factories.make_participant(study))
    halfway = factories.make_participant(study)
    for assignment in list(halfway.assignments.order_by("position"))[:2]:
        participation.do_answer(halfway, factories.good_answer(assignment))
    fresh = factories.make_participant(study)
    Participant.objects.update(trial_count=0, answered_count=0)  # as before the migration

    progress_migration.count_progress(apps, None)

    for participant, answered in ((done, done.trial_count), (halfway, 2), (fresh, 0)):
        participant.refresh_from_db()
        assert participant.trial_count == participant.assignments.count()
        assert participant.answered_count == answered
