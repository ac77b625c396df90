"""Every consent looks for dropouts whose condition slot can be freed. A study keeps every dropout
it ever had, so that search must read only those who still hold a slot, or each consent of a long
recruitment costs more than the last."""

import json

import pytest

from studies.models import ConditionSlot, Participant
from studies.participants import flow as participation
from tests.support import factories

pytestmark = pytest.mark.django_db


def participant_rows_read(study) -> int:
    """The rows PostgreSQL reads from the participants to answer the search for dropouts holding a slot."""
    statuses = ("abandoned", "active")
    search = participation._DROPPED_HOLDING_A_SLOT.build(study.pk, False, participation._slot_cutoff(study), *statuses)
    plan = json.loads(search.explain(format="json", analyze=True))[0]["Plan"]

    def scans(node):
        if node.get("Relation Name") == "studies_participant":
            yield node
        for child in node.get("Plans", []):
            yield from scans(child)

    return sum(node["Actual Rows"] * node["Actual Loops"] for node in scans(plan))


def test_dropouts_whose_slot_is_free_are_not_read_again():
    study = factories.make_class_discrimination_study(inactivity_timeout_minutes=30)
    gone = [factories.make_participant(study) for _ in range(12)]
    for person in gone:
        factories.make_inactive(person)
    assert participant_rows_read(study) == 12  # all still hold their slots

    factories.make_participant(study)  # consent frees the twelve slots

    assert not ConditionSlot.objects.filter(participant__in=gone).exists()
    assert not Participant.objects.filter(pk__in=[p.pk for p in gone], holds_slot=True).exists()
    assert participant_rows_read(study) == 0


def test_a_consent_marks_its_participant_as_holding_the_slot_it_claimed():
    study = factories.make_class_discrimination_study()
    person = factories.make_participant(study)
    assert person.holds_slot
    assert ConditionSlot.objects.get(participant=person).arm == person.condition
