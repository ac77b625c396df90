"""Personal data: how external ids are stored, and how a study's personal data is deleted.

Participants are pseudonymous. What can identify a person is the external id (PROLIFIC_PID,
MTurk workerId), the other recruitment parameters, and free-text answers. With HASH_EXTERNAL_IDS
on, external ids are stored as a keyed hash: a returning participant is still recognised (the
same id gives the same hash) but the id cannot be read back from the database.

A study that must act on submissions (approve, reject, pay on Prolific) keeps, beside the hash, a
copy encrypted with a key from the environment (`EXTERNAL_ID_ENCRYPTION_KEYS`, Fernet: AES-128-CBC
with an HMAC, from `cryptography`). The hash stays the lookup key (Fernet tokens are randomised, so
the same id never encrypts twice alike); the encrypted copy is read only by the staff's clear-text
export, and a database dump without the key reveals no id.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import transaction

HASH_PREFIX = "hmac-sha256:"
ENCRYPT = "encrypt"


class EncryptionUnavailable(Exception):
    """The study keeps ids encrypted but no usable key is configured, or a stored id does not decrypt."""


def _fernet() -> MultiFernet:
    keys = [k.strip() for k in settings.EXTERNAL_ID_ENCRYPTION_KEYS if k.strip()]
    if not keys:
        raise EncryptionUnavailable("EXTERNAL_ID_ENCRYPTION_KEYS is not set")
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except ValueError:
        raise EncryptionUnavailable(
            "EXTERNAL_ID_ENCRYPTION_KEYS holds a key that is not a Fernet key (32 url-safe base64-encoded bytes)"
        ) from None


def encryption_problem() -> str:
    """Why ids cannot be encrypted now (empty when they can)."""
    try:
        _fernet()
    except EncryptionUnavailable as exc:
        return str(exc)
    return ""


def encrypted_external_id(study, raw_id: str) -> str:
    """The encrypted copy kept for `study` (empty when the study keeps only the hash)."""
    raw_id = (raw_id or "").strip()
    if not raw_id or study.external_id_protection != ENCRYPT:
        return ""
    return _fernet().encrypt(raw_id.encode()).decode()


def readable_external_id(participant) -> str | None:
    """The participant's id in clear: decrypted, or as stored when not hashed; None when only a hash is kept."""
    if participant.external_id_encrypted:
        try:
            return _fernet().decrypt(participant.external_id_encrypted.encode()).decode()
        except InvalidToken:
            raise EncryptionUnavailable(
                "a stored id does not decrypt with EXTERNAL_ID_ENCRYPTION_KEYS (was its key removed?)"
            ) from None
    if participant.external_id and not is_hashed(participant.external_id):
        return participant.external_id
    return None


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
        if (
            participant.external_id
            or participant.external_id_encrypted
            or participant.external_meta
            or participant.comment
            or participant.questionnaire
        ):
            participant.external_id = participant.external_id_encrypted = ""
            participant.external_meta = {}
            participant.comment = ""
            participant.questionnaire = {}
            participant.save(
                update_fields=["external_id", "external_id_encrypted", "external_meta", "comment", "questionnaire"]
            )
            touched += 1
    return {"participants_purged": touched, "participants_total": study.participants.count()}
