"""Staff actions on studies and participants land in the audit log (who, when, what), read-only in the admin."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.forms.models import model_to_dict

from studies.models import AuditEntry, Study, StudyStatus, TrialPanel
from tests.support import factories

pytestmark = pytest.mark.django_db


def entries(action):
    return list(AuditEntry.objects.filter(action=action))


def test_launch_and_close_are_logged_with_who_and_when(researcher_client, researcher):
    study = factories.make_class_discrimination_study(status=StudyStatus.READY)
    assert researcher_client.post(f"/admin/studies/study/{study.pk}/launch/").status_code == 302
    assert researcher_client.post(f"/admin/studies/study/{study.pk}/close/").status_code == 302
    [launch], [close] = entries("launch"), entries("close")
    assert launch.actor == researcher and launch.actor_name == "rosa" and launch.study == study
    assert launch.summary == f"{study.slug}: launched" and close.summary == f"{study.slug}: closed"
    assert launch.at <= close.at


def test_a_refused_launch_is_not_logged(researcher_client):
    study = factories.make_class_discrimination_study(status=StudyStatus.DRAFT)
    TrialPanel.objects.filter(trial__study=study).update(stimulus=None)
    researcher_client.post(f"/admin/studies/study/{study.pk}/launch/")
    assert Study.objects.get(pk=study.pk).status != StudyStatus.LIVE
    assert not entries("launch")


def test_an_edit_is_logged_with_the_fields_that_changed(researcher_client):
    study = factories.make_class_discrimination_study(status=StudyStatus.DRAFT)
    data = {k: v for k, v in model_to_dict(study).items() if v is not None}
    data.update(methods=study.methods, name="Renamed", debrief_text="Thanks!")
    response = researcher_client.post(f"/admin/studies/study/{study.pk}/change/", data)
    assert response.status_code == 302
    [edit] = entries("edit")
    assert edit.details["fields"] == ["debrief_text", "name"]
    assert edit.summary == f"edited {study.slug}: debrief_text, name"


def test_staff_page_exports_are_logged_and_say_when_external_ids_were_in_clear(researcher_client):
    study = factories.make_class_discrimination_study(status=StudyStatus.LIVE)
    b"".join(researcher_client.get(f"/staff/studies/{study.pk}/export/responses.csv").streaming_content)
    b"".join(
        researcher_client.get(f"/staff/studies/{study.pk}/export/participants.csv?external_ids=1").streaming_content
    )
    responses, participants = sorted(entries("export"), key=lambda e: e.id)
    assert responses.via == "staff page" and responses.details == {"what": "responses", "external_ids": False}
    assert participants.details["external_ids"] is True and "external ids in clear" in participants.summary


def test_deleting_a_study_is_logged_and_the_entry_still_names_it(researcher_client):
    study = factories.make_class_discrimination_study(status=StudyStatus.DRAFT)
    slug = study.slug
    response = researcher_client.post(f"/admin/studies/study/{study.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not Study.objects.filter(slug=slug).exists()
    [deleted] = entries("delete")
    assert deleted.study is None and deleted.study_slug == slug and slug in deleted.summary


def test_discarding_pilot_data_is_logged_with_the_counts(researcher_client):
    study = factories.make_class_discrimination_study(status=StudyStatus.READY)
    factories.answer_all(factories.make_participant(study, pilot=True))
    researcher_client.post(f"/admin/studies/study/{study.pk}/discard-pilot/", {"confirm": "yes"})
    [discard] = entries("discard_pilot")
    assert discard.details["participants"] == 1 and discard.details["answers"] > 0
    assert discard.summary.startswith("discarded 1 pilot participant and ")


def test_commands_log_their_system_user(capsys):
    study = factories.make_class_discrimination_study(status=StudyStatus.LIVE)
    call_command("purge_personal_data", study.slug, "--yes")
    [purge] = entries("purge_personal_data")
    assert purge.actor is None and purge.via == "command"
    assert purge.actor_name.startswith("manage.py purge_personal_data (system user ")


def test_the_audit_log_is_shown_in_the_admin_and_nobody_can_add_change_or_delete_entries(researcher_client):
    study = factories.make_class_discrimination_study(status=StudyStatus.READY)
    researcher_client.post(f"/admin/studies/study/{study.pk}/launch/")
    entry = AuditEntry.objects.get()
    listing = researcher_client.get("/admin/studies/auditentry/").content.decode()
    assert f"{study.slug}: launched" in listing and "rosa" in listing
    page = researcher_client.get(f"/admin/studies/auditentry/{entry.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert researcher_client.get("/admin/studies/auditentry/add/").status_code == 403
    assert researcher_client.post(f"/admin/studies/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
