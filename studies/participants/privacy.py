"""Personal data: how external ids are stored, and how a study's personal data is deleted.

Participants are pseudonymous. What can identify a person is the external id (PROLIFIC_PID,
MTurk workerId), the other recruitment parameters, and free-text answers. With HASH_EXTERNAL_IDS
on, external ids are stored as a keyed hash: a returning participant is still recognised (the
same id gives the same hash) but the id cannot be read back from the database.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.db import transaction

HASH_PREFIX = "hmac-sha256:"


def external_id_for_storage(source: str, raw_id: str) -> str:
    """The value stored in Participant.external_id for an id given by a recruitment platform."""
    raw_id = (raw_id or "").strip()
    if not raw_id or not settings.HASH_EXTERNAL_IDS:
        return raw_id
    key = settings.EXTERNAL_ID_HASH_KEY.encode()
    digest = hmac.new(key, f"{source}:{raw_id}".encode(), hashlib.sha256).hexdigest()
    return HASH_PREFIX + digest


def is_hashed(stored_id: str) -> bool:
    return stored_id.startswith(HASH_PREFIX)


@transaction.atomic
def do_purge_personal_data(study) -> dict:
    """Delete what could identify a study's participants; keep their pseudonymous answers.

    Returns how many participants were touched. Responses, timings and conditions stay, so the
    study's statistics are unchanged; the external ids, recruitment parameters and free-text
    answers are gone for good.
    """
    participants = study.participants.select_for_update()
    touched = 0
    for participant in participants:
        if participant.external_id or participant.external_meta or participant.comment or participant.questionnaire:
            participant.external_id = ""
            participant.external_meta = {}
            participant.comment = ""
            participant.questionnaire = {}
            participant.save(update_fields=["external_id", "external_meta", "comment", "questionnaire"])
            touched += 1
    return {"participants_purged": touched, "participants_total": study.participants.count()}
