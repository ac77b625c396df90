"""Participants who consented before condition slots existed are given theirs by the migration,
so a study that is live during the upgrade stays balanced."""

import importlib
from collections import Counter

import pytest
from django.apps import apps

from studies.models import ConditionSlot, Participant, ParticipantStatus
from tests.support import factories

pytestmark = pytest.mark.django_db

migration = importlib.import_module("studies.migrations.0005_condition_slots")


def test_the_migration_gives_current_participants_slots_and_consent_continues_balanced():
    study = factories.make_class_discrimination_study()
    people = [factories.make_participant(study) for _ in range(5)]  # gradcam 2, guided_backprop 2, guided_gradcam 1
    Participant.objects.filter(pk=people[0].pk).update(status=ParticipantStatus.ABANDONED)
    ConditionSlot.objects.all().delete()  # as before the migration

    migration.give_current_participants_their_slots(apps, None)

    held = Counter(ConditionSlot.objects.filter(study=study).values_list("arm", "rank"))
    assert held == Counter([("guided_backprop", 0), ("guided_gradcam", 0), ("gradcam", 0), ("guided_backprop", 1)])
    # Holding 1, 2, 1: the next two go to the arms with one, the earlier first.
    assert [factories.make_participant(study).condition for _ in range(2)] == ["gradcam", "guided_gradcam"]
