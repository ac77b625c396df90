"""Consent keeps a live study's trial bank in the web process (every consent would otherwise read
hundreds of trials), but a bank that changed in the database is read again: a participant is never
assigned a retired trial, nor misses a new one."""

import pytest
from django.utils import timezone

from studies.models import Assignment, Trial
from studies.participants import flow as participation
from tests.support import factories

pytestmark = pytest.mark.django_db


def assigned_trials(participant):
    return set(Assignment.objects.filter(participant=participant).values_list("trial_id", flat=True))


def test_a_bank_replaced_after_consents_is_read_again():
    study = factories.make_class_discrimination_study()
    first = factories.make_participant(study)
    old = set(Trial.objects.filter(study=study).values_list("id", flat=True))
    assert assigned_trials(first) <= old
    assert participation.study_bank(study) is participation.study_bank(study)  # kept, not re-read

    # The bank is replaced, as generation does with trials that someone was assigned: each is
    # retired and a copy takes its index.
    trials = list(Trial.objects.filter(study=study))
    Trial.objects.filter(pk__in=[t.pk for t in trials]).update(retired_at=timezone.now())
    for t in trials:
        t.pk = None
        t.retired_at = None
        t.save()
    new = set(Trial.objects.filter(study=study).values_list("id", flat=True))
    assert new and not new & old

    second = factories.make_participant(study)
    assert assigned_trials(second) and assigned_trials(second) <= new


def test_a_trial_dropped_from_the_bank_is_not_assigned_any_more():
    study = factories.make_class_discrimination_study(n_images=6, trials_per_participant=2, attention_checks=0)
    factories.make_participant(study)
    dropped = Trial.objects.filter(study=study).order_by("-index").first()
    Trial.objects.filter(pk=dropped.pk).update(retired_at=timezone.now())
    later = [factories.make_participant(study) for _ in range(12)]
    assert all(dropped.pk not in assigned_trials(p) for p in later)
