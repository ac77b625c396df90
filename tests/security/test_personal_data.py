"""External ids can be stored hashed, and a study's personal data can be deleted."""

import pytest
from django.core.management import call_command
from django.test import override_settings

from studies.models import Participant, Study
from studies.participants.privacy import external_id_for_storage, is_hashed


@pytest.fixture
def study(db):
    return Study.objects.create(name="Privacy", slug="privacy", methods=["gradcam"])


@override_settings(HASH_EXTERNAL_IDS=True, EXTERNAL_ID_HASH_KEY="k1")
def test_it_stores_external_ids_as_a_keyed_hash():
    stored = external_id_for_storage("prolific", "5f1e2d3c4b5a")
    assert is_hashed(stored)
    assert "5f1e2d3c4b5a" not in stored
    assert stored == external_id_for_storage("prolific", " 5f1e2d3c4b5a ")  # a returning participant matches
    assert stored != external_id_for_storage("mturk", "5f1e2d3c4b5a")
    with override_settings(EXTERNAL_ID_HASH_KEY="k2"):
        assert stored != external_id_for_storage("prolific", "5f1e2d3c4b5a")


@override_settings(HASH_EXTERNAL_IDS=False)
def test_it_can_keep_external_ids_in_clear_when_the_researcher_asks():
    assert external_id_for_storage("prolific", "5f1e2d3c4b5a") == "5f1e2d3c4b5a"


def test_an_absent_external_id_stays_empty():
    assert external_id_for_storage("prolific", "") == ""


def test_purge_deletes_identifying_data_and_keeps_answers(study):
    kept = Participant.objects.create(study=study, condition="gradcam", status="completed")
    person = Participant.objects.create(
        study=study,
        condition="gradcam",
        external_source="prolific",
        external_id="abc",
        external_meta={"STUDY_ID": "s1", "SESSION_ID": "x"},
        comment="I am Jane from Leeds",
        questionnaire={"comment": "I am Jane"},
    )
    call_command("purge_personal_data", "privacy", "--yes")
    person.refresh_from_db()
    assert (person.external_id, person.external_meta, person.comment, person.questionnaire) == ("", {}, "", {})
    assert person.condition == "gradcam"
    assert Participant.objects.filter(pk=kept.pk).exists()


def test_purge_refuses_an_unknown_study(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no study"):
        call_command("purge_personal_data", "nope", "--yes")
