"""The audit log: who did what to which study, and when, for every staff action on studies and participants.

Admin actions, staff pages, the API and management commands all record through `do_record`, with
the actor as they know it: a request's user, an API token's owner, or the command and system user.
Entries hold no participant's personal data (counts and pseudonymous ids at most).
"""

from __future__ import annotations

import getpass
import logging

from .models import AuditAction, AuditEntry, Study

log = logging.getLogger(__name__)

VIA_ADMIN = "admin"
VIA_STAFF_PAGE = "staff page"
VIA_API = "api"
VIA_COMMAND = "command"


def command_actor(command: str) -> str:
    """How a management command signs its entries: the command and the system user that ran it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = "unknown"
    return f"manage.py {command} (system user {user})"


def do_record(
    actor,
    action: AuditAction | str,
    summary: str,
    *,
    study: Study | None = None,
    via: str = VIA_ADMIN,
    details: dict | None = None,
) -> AuditEntry:
    """Record one staff action. `actor` is a user, or a text naming who acted (a command)."""
    user = actor if getattr(actor, "pk", None) is not None else None
    name = user.get_username() if user is not None else str(actor or "unknown")
    entry = AuditEntry.objects.create(
        actor=user,
        actor_name=name[:200],
        via=via,
        action=action,
        study=study if study is not None and study.pk is not None else None,
        study_slug=study.slug if study is not None else "",
        summary=summary[:500],
        details=details or {},
    )
    log.info("audit: %s %s %s", name, action, summary)
    return entry


def do_record_export(actor, study: Study, what: str, *, via: str, external_ids: bool = False) -> AuditEntry:
    """An export of a study's data; one with the external ids in clear says so."""
    summary = f"exported the {what} of {study.slug}" + (" with external ids in clear" if external_ids else "")
    return do_record(
        actor,
        AuditAction.EXPORT,
        summary,
        study=study,
        via=via,
        details={"what": what, "external_ids": external_ids},
    )


def do_record_edit(actor, study: Study, changed_fields, *, created: bool = False) -> AuditEntry:
    """A study created or saved in the admin, with the names of the fields that changed."""
    changed = sorted(changed_fields or [])
    if created:
        return do_record(actor, AuditAction.CREATE, f"created {study.slug}", study=study, details={"fields": changed})
    what = ", ".join(changed) if changed else "nothing changed"
    return do_record(actor, AuditAction.EDIT, f"edited {study.slug}: {what}", study=study, details={"fields": changed})


def do_record_deletion(actor, study: Study) -> AuditEntry:
    """Recorded before the study goes, so that the entry can still name it and count what went with it."""
    details = {"name": study.name, "participants": study.participants.count(), "status": study.status}
    return do_record(actor, AuditAction.DELETE, f"deleted {study.slug} ({study.name})", study=study, details=details)


def do_record_pilot_discard(actor, study: Study, counts, *, via: str = VIA_ADMIN) -> AuditEntry:
    return do_record(
        actor,
        AuditAction.DISCARD_PILOT,
        f"discarded {counts} of {study.slug}",
        study=study,
        via=via,
        details={"participants": counts.participants, "answers": counts.answers},
    )
