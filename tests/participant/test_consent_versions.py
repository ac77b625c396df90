"""Consent is versioned: each participant records the version of the text they accepted; changing the
text (a live study's too, in the admin) makes a new version and the old ones stay readable; a consent
posted from a page that showed an older text shows the new one instead of recording consent to it."""

import re

import pytest

from studies.models import AuditEntry, ConsentVersion, Participant, Study, StudyStatus
from studies.results import export
from tests.participant.test_server_flow import consent, start_url
from tests.support import factories

pytestmark = pytest.mark.django_db


def shown_version(html: str) -> str:
    return re.search(r'name="consent_version" value="(\d+)"', html).group(1)


def test_a_new_study_has_its_text_as_version_1_and_a_participant_records_it(client):
    study = factories.make_class_discrimination_study(consent_text="Version one of the text.")
    assert study.consent_version == 1
    assert list(study.consent_versions.values_list("number", "text")) == [(1, "Version one of the text.")]
    html = client.get(start_url(study)).content.decode()
    assert shown_version(html) == "1" and "Version one of the text." in html

    participant = consent(client, study, consent_version="1")
    assert participant.consent_version == 1 and participant.consented_at is not None


def test_saving_a_study_without_changing_its_text_makes_no_version():
    study = factories.make_class_discrimination_study(consent_text="Same text.")
    study.name = "Renamed"
    study.save()
    study.save(update_fields=["status"])
    assert study.consent_versions.count() == 1 and Study.objects.get(pk=study.pk).consent_version == 1


def test_a_live_studys_text_changed_in_the_admin_is_a_new_version_and_the_old_one_stays_readable(
    researcher_client, researcher
):
    study = factories.make_class_discrimination_study(consent_text="The first text.")
    assert study.status == StudyStatus.LIVE
    early = factories.make_participant(study)

    url = f"/admin/studies/study/{study.pk}/change/"
    form = researcher_client.get(url).content.decode()
    assert 'name="consent_text"' in form and 'name="seed"' not in form  # the rest stays frozen
    response = researcher_client.post(url, {"consent_text": "The second text.", "seed": 99, "name": "Renamed"})
    assert response.status_code == 302

    study.refresh_from_db()
    assert (study.consent_text, study.consent_version, study.seed, study.status) == ("The second text.", 2, 7, "live")
    versions = list(ConsentVersion.objects.filter(study=study).order_by("number").values_list("number", "text"))
    assert versions == [(1, "The first text."), (2, "The second text.")]
    assert ConsentVersion.objects.get(study=study, number=2).created_by == researcher.get_username()
    assert AuditEntry.objects.filter(study=study, action="edit", details__fields=["consent_text"]).exists()

    page = researcher_client.get(url).content.decode()
    assert "The first text." in page and "The second text." in page and "consent-versions" in page
    late = factories.make_participant(study)
    assert (Participant.objects.get(pk=early.pk).consent_version, late.consent_version) == (1, 2)


def test_a_live_study_posted_without_its_text_keeps_it(researcher_client):
    study = factories.make_class_discrimination_study(consent_text="Kept.")
    response = researcher_client.post(f"/admin/studies/study/{study.pk}/change/", {"name": "Renamed"})
    assert response.status_code == 302
    study.refresh_from_db()
    assert (study.consent_text, study.consent_version, study.consent_versions.count()) == ("Kept.", 1, 1)


def test_a_closed_studys_text_cannot_change(researcher_client):
    study = factories.make_class_discrimination_study(consent_text="Final.", status=StudyStatus.CLOSED)
    researcher_client.post(f"/admin/studies/study/{study.pk}/change/", {"consent_text": "Changed."})
    study.refresh_from_db()
    assert (study.consent_text, study.consent_versions.count()) == ("Final.", 1)


def test_consent_posted_from_a_page_showing_an_older_text_shows_the_new_text_and_records_nothing(client):
    study = factories.make_class_discrimination_study(consent_text="What you read first.")
    params = {"PROLIFIC_PID": "pp-reader", "SESSION_ID": "se-reader"}
    page = client.get(start_url(study, **params)).content.decode()
    seen = shown_version(page)

    study.consent_text = "What the study says now."
    study.save()

    stale = client.post(start_url(study), {"action": "accept", "consent_version": seen, **params})
    html = stale.content.decode()
    assert stale.status_code == 409 and 'data-testid="consent-changed"' in html
    assert "What the study says now." in html and shown_version(html) == "2"
    assert not Participant.objects.filter(study=study).exists()

    participant = consent(client, study, consent_version=shown_version(html), **params)
    assert participant.consent_version == 2


def test_a_forged_version_number_is_not_recorded(client):
    study = factories.make_class_discrimination_study()
    for forged in ("7", "0", "one", ""):
        response = client.post(start_url(study), {"action": "accept", "consent_version": forged})
        assert response.status_code == 409
    assert not Participant.objects.filter(study=study).exists()


def test_the_consent_page_and_its_post_read_nothing_more_for_the_version(client, django_assert_max_num_queries):
    study = factories.make_class_discrimination_study()
    params = {"PROLIFIC_PID": "pp-count", "SESSION_ID": "se-count"}
    with django_assert_max_num_queries(2):  # the study, and who has this id
        html = client.get(start_url(study, **params)).content.decode()
    # As many as before versions: the version is read from the study's row, written in the participant's.
    with django_assert_max_num_queries(16):
        response = client.post(start_url(study), {"action": "accept", "consent_version": shown_version(html), **params})
    assert response.status_code == 302


def test_the_participants_csv_gives_the_version_each_participant_accepted():
    study = factories.make_class_discrimination_study(consent_text="First.")
    first = factories.make_participant(study)
    study.consent_text = "Second."
    study.save()
    second = factories.make_participant(study)
    rows = {r["participant"]: r for r in export.participant_rows(study)}
    assert rows[str(first.public_id)]["consent_version"] == 1
    assert rows[str(second.public_id)]["consent_version"] == 2
    assert rows[str(second.public_id)]["consented_at"]
