"""Per-researcher tokens for the read-only JSON API: issued by staff in the admin, revocable.

A token is shown once, when it is issued; only its sha256 is stored (it is 256 random bits, so a
plain hash is enough and a lookup is one indexed query). A token reads every study, or only the
studies chosen for it, and only while its owner is an active staff account.
"""

from __future__ import annotations

import hashlib
import secrets

from django.utils import timezone

from .models import ApiToken, Study

KEY_PREFIX = "vxs_"  # makes a leaked key recognisable in logs and secret scanners


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def assign_new_key(token: ApiToken) -> str:
    """Give an unsaved token a fresh key; returns the key, of which only the hash is kept."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token.key_hash, token.prefix = key_hash(key), key[: len(KEY_PREFIX) + 4]
    return key


def do_issue_token(user, name: str, studies=(), *, by: str = "") -> tuple[ApiToken, str]:
    """A new token for `user`; returns it with its key, which is never shown again."""
    token = ApiToken(user=user, name=name, created_by=by)
    key = assign_new_key(token)
    token.save()
    if studies:
        token.studies.set(studies)
    return token, key


def do_revoke_tokens(queryset) -> int:
    """Revoke tokens for good (they stay listed, with when they were revoked)."""
    return queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


def token_for_key(key: str) -> ApiToken | None:
    """The live token with this key, or None for an unknown, malformed or revoked key."""
    if not key or not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=key_hash(key), revoked_at__isnull=True).first()
    if token is not None:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token


def owner_may_use(token: ApiToken) -> bool:
    return token.user.is_active and token.user.is_staff


def readable_studies(token: ApiToken):
    chosen = token.studies.all()
    return chosen if chosen.exists() else Study.objects.all()


def may_read(token: ApiToken, study: Study) -> bool:
    chosen = token.studies.all()
    return not chosen.exists() or chosen.filter(pk=study.pk).exists()
