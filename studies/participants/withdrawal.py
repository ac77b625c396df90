"""Withdrawal: a participant leaves a study and takes their answers with them, as its ethics setting says.

`Study.withdrawal_policy`:
- delete: the answers (responses, free-text comment and questionnaire) are deleted, with the
  encrypted copy of the platform id and the recruitment parameters;
- exclude: the answers stay, marked withdrawn, and the export's `excluded` column and the analysis
  leave them out (exclusion reason "withdrawn").

Either way the participant is marked withdrawn (so its cookie records nothing more and the same
platform id cannot start again: the lookup key, a keyed hash by default, stays), and gives its
condition slot back, so the arm is filled again like a dropout's. The participant's own withdrawal
and a researcher's (a Prolific data-deletion request: the admin's action, `manage.py
withdraw_participant`) are the same function and both go to the audit log, which names the
participant by its public id only.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from .. import audit
from ..models import AuditAction, ConditionSlot, Participant, ParticipantStatus, Response, Study
from .flow import ExternalIdentity, find_by_external

DELETE, EXCLUDE = "delete", "exclude"
PARTICIPANT_ACTOR = "the participant"
VIA_PARTICIPANT = "participant page"


@dataclass(frozen=True)
class Withdrawal:
    participant: Participant
    done: bool  # False: it had withdrawn already, nothing changed
    policy: str = ""
    answers_deleted: int = 0


@transaction.atomic
def do_withdraw(participant: Participant, *, actor, via: str) -> Withdrawal:
    """Withdraw `participant` as its study's policy says (idempotent); `actor`: a user, or a text."""
    # The row lock waits for an answer being recorded; one recorded after this sees the status and
    # is refused (flow.do_answer advances only an active participant).
    locked = Participant.objects.select_for_update().filter(pk=participant.pk).first()
    if locked is None or locked.status in (ParticipantStatus.WITHDRAWN, ParticipantStatus.DECLINED):
        return Withdrawal(locked or participant, done=False)
    study = participant.study
    policy = study.withdrawal_policy
    now = timezone.now()
    fields = {"status": ParticipantStatus.WITHDRAWN, "withdrawn_at": now, "last_seen_at": now, "holds_slot": False}
    deleted = 0
    if policy != EXCLUDE:
        deleted, _ = Response.objects.filter(assignment__participant=locked).delete()
        fields.update(answered_count=0, comment="", questionnaire={}, external_id_encrypted="", external_meta={})
    Participant.objects.filter(pk=locked.pk).update(**fields)
    ConditionSlot.objects.filter(participant=locked).update(participant=None)
    kept = "answers kept, excluded" if policy == EXCLUDE else f"{deleted} answers deleted"
    audit.do_record(
        actor,
        AuditAction.WITHDRAW,
        f"withdrew participant {locked.public_id} from {study.slug}: {kept}",
        study=study,
        via=via,
        details={"participant": str(locked.public_id), "policy": policy, "answers_deleted": deleted},
    )
    locked.refresh_from_db()
    return Withdrawal(locked, done=True, policy=policy, answers_deleted=deleted)


class NoSuchParticipant(LookupError):
    """No participant of the study has that platform id."""


def do_withdraw_external_id(study: Study, source: str, external_id: str, *, actor, via: str) -> Withdrawal:
    """A researcher acting on a platform's data-deletion request: the participant is found by its id as
    the study stores it (a keyed hash, or in clear), never by decrypting every stored id."""
    external_id = (external_id or "").strip()
    participant = find_by_external(study, ExternalIdentity(source, external_id)) if external_id else None
    if participant is None:
        raise NoSuchParticipant(f"{study.slug} has no participant with that {source or 'external'} id")
    return do_withdraw(participant, actor=actor, via=via)
