"""After a pilot: the study's pilot data can be discarded (confirmed, logged), and participants are listed read-only."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry

from studies.models import Participant, Response, StudyStatus
from tests.support import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def piloted_study():
    """A ready study with two answered pilots, then launched and answered by one real participant."""
    study = factories.make_class_discrimination_study(status=StudyStatus.READY)
    pilots = [factories.answer_all(factories.make_participant(study, pilot=True)) for _ in range(2)]
    study.status = StudyStatus.LIVE
    study.save(update_fields=["status"])
    real = factories.answer_all(factories.make_participant(study, external_id="real-1"))
    return study, pilots, real


def test_discarding_pilot_data_asks_first_then_deletes_only_the_pilots_and_their_answers(
    researcher_client, piloted_study
):
    study, pilots, real = piloted_study
    real_answers = list(Response.objects.filter(assignment__participant=real).values_list("pk", flat=True))
    url = f"/admin/studies/study/{study.pk}/discard-pilot/"

    pilot_answers = Response.objects.filter(assignment__participant__in=[p.pk for p in pilots]).count()
    assert pilot_answers > 2
    page = researcher_client.get(url)
    assert page.status_code == 200
    assert f"2 pilot participants and {pilot_answers} answers" in page.content.decode()
    assert Participant.objects.filter(study=study, is_pilot=True).count() == 2  # asking deletes nothing

    response = researcher_client.post(url, {"confirm": "yes"})
    assert response.status_code == 302
    assert not Participant.objects.filter(study=study, is_pilot=True).exists()
    assert not Response.objects.filter(assignment__participant__in=[p.pk for p in pilots]).exists()
    assert list(Response.objects.filter(assignment__participant=real).values_list("pk", flat=True)) == real_answers
    assert study.trials.count() > 0
    entry = LogEntry.objects.get(object_id=str(study.pk))
    assert f"Discarded pilot data: 2 pilot participants and {pilot_answers} answers" in entry.get_change_message()


def test_the_discard_action_on_the_study_list_confirms_before_deleting(researcher_client, piloted_study):
    study, _, real = piloted_study
    form = {"action": "discard_pilot_data", "_selected_action": [study.pk]}
    confirm = researcher_client.post("/admin/studies/study/", form)
    assert confirm.status_code == 200 and b"Yes, discard the pilot data" in confirm.content
    assert Participant.objects.filter(study=study, is_pilot=True).count() == 2

    done = researcher_client.post("/admin/studies/study/", {**form, "confirm": "yes"})
    assert done.status_code == 302
    assert list(Participant.objects.filter(study=study)) == [real]


def test_participants_are_listed_read_only_with_filters_by_study_status_and_pilot_and_search_by_public_id(
    researcher_client, piloted_study
):
    study, pilots, real = piloted_study
    other = factories.make_participant(factories.make_class_discrimination_study())
    listing = researcher_client.get("/admin/studies/participant/")
    assert listing.status_code == 200
    for p in (*pilots, real, other):
        assert str(p.public_id) in listing.content.decode()

    def listed(query: str) -> set[str]:
        page = researcher_client.get(f"/admin/studies/participant/?{query}")
        assert page.status_code == 200
        return {str(p.public_id) for p in page.context["cl"].result_list}

    assert listed("is_pilot__exact=1") == {str(p.public_id) for p in pilots}
    assert listed(f"study__id__exact={study.pk}") == {str(p.public_id) for p in (*pilots, real)}
    assert listed("status__exact=completed") == {str(p.public_id) for p in (*pilots, real)}
    assert listed(f"q={real.public_id}") == {str(real.public_id)}

    change = researcher_client.get(f"/admin/studies/participant/{real.pk}/change/")
    assert change.status_code == 200
    assert real.token not in change.content.decode()  # the participant's credential is never shown
    assert b'name="_save"' not in change.content
    assert researcher_client.post(f"/admin/studies/participant/{real.pk}/change/", {}).status_code == 403
    assert researcher_client.get("/admin/studies/participant/add/").status_code == 403
    assert researcher_client.post(f"/admin/studies/participant/{real.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Participant.objects.filter(pk=real.pk).exists()
