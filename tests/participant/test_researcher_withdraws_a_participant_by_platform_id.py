"""A researcher acts on a Prolific data-deletion request: the participant is found by its Prolific id
(stored as a keyed hash, or encrypted beside it) and withdrawn as the study's policy says, from the
admin or with `manage.py withdraw_participant`; both are in the audit log with who did it."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from studies.models import AuditEntry, Participant, ParticipantStatus, Response
from tests.support import factories

pytestmark = pytest.mark.django_db


def answered(study, prolific_id):
    return factories.answer_all(factories.make_participant(study, external_id=prolific_id), complete=True)


def test_the_command_withdraws_the_participant_with_that_prolific_id_and_logs_the_system_user(capsys):
    study = factories.make_class_discrimination_study()
    leaving, staying = answered(study, "PID-LEAVING"), answered(study, "PID-STAYING")
    assert Participant.objects.get(pk=leaving.pk).external_id.startswith("hmac-sha256:")  # never stored in clear

    call_command("withdraw_participant", study.slug, "PID-LEAVING", "--yes")
    assert "answers deleted" in capsys.readouterr().out
    assert Participant.objects.get(pk=leaving.pk).status == ParticipantStatus.WITHDRAWN
    assert not Response.objects.filter(assignment__participant=leaving).exists()
    assert Participant.objects.get(pk=staying.pk).status == ParticipantStatus.COMPLETED
    assert Response.objects.filter(assignment__participant=staying).exists()

    entry = AuditEntry.objects.get(action="withdraw")
    assert entry.via == "command" and entry.actor_name.startswith("manage.py withdraw_participant (system user ")
    assert "PID-LEAVING" not in str([entry.summary, entry.details]) and str(leaving.public_id) in entry.summary

    call_command("withdraw_participant", study.slug, "PID-LEAVING", "--yes")  # a repeated request
    assert "nothing changed" in capsys.readouterr().out
    assert AuditEntry.objects.filter(action="withdraw").count() == 1


def test_an_unknown_id_or_study_is_a_clear_error_that_changes_nothing():
    study = factories.make_class_discrimination_study()
    participant = answered(study, "PID-KNOWN")
    with pytest.raises(CommandError, match="no participant with that prolific id"):
        call_command("withdraw_participant", study.slug, "PID-UNKNOWN", "--yes")
    with pytest.raises(CommandError):
        call_command("withdraw_participant", "no-such-study", "PID-KNOWN", "--yes")
    with pytest.raises(CommandError, match="no participant"):  # an MTurk id is another participant
        call_command("withdraw_participant", study.slug, "PID-KNOWN", "--source", "mturk", "--yes")
    assert Participant.objects.get(pk=participant.pk).status == ParticipantStatus.COMPLETED
    assert not AuditEntry.objects.filter(action="withdraw").exists()


def test_an_encrypted_id_is_found_and_withdrawn_under_the_exclude_policy(settings):
    settings.EXTERNAL_ID_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    study = factories.make_class_discrimination_study(external_id_protection="encrypt", withdrawal_policy="exclude")
    participant = answered(study, "PID-ENCRYPTED")
    call_command("withdraw_participant", study.slug, "PID-ENCRYPTED", "--yes")
    participant.refresh_from_db()
    assert participant.status == ParticipantStatus.WITHDRAWN
    assert Response.objects.filter(assignment__participant=participant).count() == participant.trial_count


def test_the_admin_finds_a_participant_by_prolific_id_and_withdraws_it_after_confirmation(
    researcher_client, researcher
):
    study = factories.make_class_discrimination_study()
    leaving, staying = answered(study, "PID-ADMIN"), answered(study, "PID-OTHER")
    listing = researcher_client.get("/admin/studies/participant/", {"q": "PID-ADMIN"}).content.decode()
    assert str(leaving.public_id) in listing and str(staying.public_id) not in listing

    action = {"action": "withdraw_participants", "_selected_action": [leaving.pk]}
    confirm = researcher_client.post("/admin/studies/participant/", action)
    assert confirm.status_code == 200 and 'data-testid="confirm-withdraw"' in confirm.content.decode()
    assert Participant.objects.get(pk=leaving.pk).status == ParticipantStatus.COMPLETED  # asked, not done

    done = researcher_client.post("/admin/studies/participant/", {**action, "confirm": "yes"})
    assert done.status_code == 302
    assert Participant.objects.get(pk=leaving.pk).status == ParticipantStatus.WITHDRAWN
    assert not Response.objects.filter(assignment__participant=leaving).exists()
    assert Participant.objects.get(pk=staying.pk).status == ParticipantStatus.COMPLETED
    entry = AuditEntry.objects.get(action="withdraw")
    assert (entry.actor, entry.via) == (researcher, "admin")


def test_staff_without_the_right_to_change_studies_cannot_withdraw(client, django_user_model):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("vera", password="vera-password-123", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_participant"))
    client.force_login(viewer)
    study = factories.make_class_discrimination_study()
    participant = answered(study, "PID-VIEWED")
    action = {"action": "withdraw_participants", "_selected_action": [participant.pk], "confirm": "yes"}
    client.post("/admin/studies/participant/", action)
    assert Participant.objects.get(pk=participant.pk).status == ParticipantStatus.COMPLETED
    assert not AuditEntry.objects.filter(action="withdraw").exists()
