"""The load test's wave phase: a crowd consenting over a few seconds through HTTP, all recorded,
the arms within one of even, while a participant already in the study reads trial pages."""

import pytest

from bench.loadtest import wave
from studies.management.commands.simulate_participants import LocalServer
from studies.models import Participant
from tests.support import factories

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_small_wave_consents_everyone_and_stays_balanced():
    study = factories.make_class_discrimination_study()
    with LocalServer() as server:
        result = wave(study, server.url, size=30, seconds=3.0)
    assert result["completed"] == 30 and result["errors"] == 0, result
    assert result["balanced"] and set(result["arms"]) == set(study.methods)
    assert sum(result["arms"].values()) == Participant.objects.filter(study=study).count() == 31  # and the reader
    assert result["reader_pages"][0]["page"] == "trial" and result["reader_pages"][0]["requests"] > 0


def test_the_wave_participants_are_flagged_as_simulated():
    study = factories.make_class_discrimination_study()
    with LocalServer() as server:
        wave(study, server.url, size=3, seconds=0.5)
    assert set(Participant.objects.filter(study=study).values_list("is_simulated", flat=True)) == {True}
