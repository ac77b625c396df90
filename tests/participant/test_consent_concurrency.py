"""Consents run side by side: no study-wide lock, in-flight slots are skipped, arms stay balanced."""

import threading
from collections import Counter

import pytest
from django.db import connection, transaction

from studies.models import ConditionSlot, Participant, Study
from tests.support import factories
from tests.support.races import run_at_once

pytestmark = pytest.mark.django_db(transaction=True)


def consent_while_other_connection_holds(study, lock):
    """Consent (giving up on any lock after 2 s) while another connection's open transaction has
    run `lock`."""
    ready, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                lock()
                ready.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert ready.wait(30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        return factories.make_participant(study)
    finally:
        release.set()
        holder.join()
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")


def test_a_consent_does_not_wait_for_the_study_row():
    study = factories.make_class_discrimination_study()
    # What saving the study in the admin holds while its transaction runs.
    participant = consent_while_other_connection_holds(
        study, lambda: Study.objects.select_for_update(no_key=True).get(pk=study.pk)
    )
    assert participant.condition == study.methods[0]


def test_a_consent_skips_the_slot_another_consent_is_taking():
    study = factories.make_class_discrimination_study()
    factories.make_participant(study)
    first_free = ConditionSlot.objects.filter(study=study, participant=None).order_by("rank", "arm_order").first()
    assert first_free.arm == study.methods[1]
    participant = consent_while_other_connection_holds(
        study, lambda: list(ConditionSlot.objects.select_for_update().filter(pk=first_free.pk))
    )
    assert participant.condition == study.methods[2]


def test_racing_consents_over_three_arms_end_balanced():
    study = factories.make_class_discrimination_study()
    run_at_once(*[lambda: factories.make_participant(study)] * 12)
    counts = Counter(Participant.objects.filter(study=study).values_list("condition", flat=True))
    assert counts == {m: 4 for m in study.methods}
    assert ConditionSlot.objects.filter(study=study).exclude(participant=None).count() == 12
