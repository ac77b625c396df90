"""How a participation ends on its recruitment platform: the outcome, its code, and where it goes.

Prolific: one completion code per outcome (completed, screened out, failed attention checks, no
consent, timed out), each set per study; the participant is sent to Prolific's documented completion
URL with that code. MTurk (external question): the last page posts the assignment to the study's
`externalSubmit` URL (sandbox or production). Participants from a plain link see the completion code
and the study's own redirect, as before.

Every outcome is decided here, on the server, from what is stored: nothing a participant sends names
an outcome or a code. Screeners (eligibility questions before consent) are validated here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..i18n import shown_screeners
from ..models import Outcome, Participant, ParticipantStatus, Response, Study
from .privacy import ENCRYPT, encrypted_external_id, encryption_problem

PROLIFIC_COMPLETE_URL = "https://app.prolific.com/submissions/complete"
# The study fields that hold each outcome's code (the completed code is the study's completion code).
CODE_FIELDS = {
    Outcome.COMPLETED: "completion_code",
    Outcome.SCREENED_OUT: "screened_out_code",
    Outcome.FAILED_CHECKS: "failed_checks_code",
    Outcome.NO_CONSENT: "no_consent_code",
    Outcome.TIMED_OUT: "timed_out_code",
}
# How a participant leaving early gives the place back, per platform (shown on the pages).
RETURN_INSTRUCTIONS = {
    "prolific": gettext_lazy(
        "To stop without finishing, close this window and click “Return submission” on the study's page "
        "on Prolific, so that your place goes to someone else and your record stays clean."
    ),
    "mturk": gettext_lazy(
        "To stop without finishing, close this window and click “Return” above the HIT on Mechanical Turk."
    ),
}


def return_instructions(source: str) -> str:
    """How to return the study on the participant's platform, in the page's language ("" elsewhere)."""
    return str(RETURN_INSTRUCTIONS.get(source, ""))


SCREEN_SALT = "studies.screeners"
SCREEN_PASS_MAX_AGE = 24 * 3600
MAX_SCREENERS = 20
MAX_SCREENER_TEXT = 500


def outcome_code(study: Study, outcome: str) -> str:
    return getattr(study, CODE_FIELDS[outcome]) if outcome in CODE_FIELDS else ""


def prolific_completion_url(code: str) -> str:
    return f"{PROLIFIC_COMPLETE_URL}?{urlencode({'cc': code})}"


def mturk_submit_url(study: Study) -> str:
    return settings.MTURK_EXTERNAL_SUBMIT_URLS.get(study.mturk_environment, "") if study.mturk_environment else ""


@dataclass(frozen=True)
class Ending:
    """What the last page shows and where it sends the participant."""

    outcome: str
    code: str = ""
    redirect_url: str = ""  # followed automatically after a few seconds
    mturk_action: str = ""  # the externalSubmit URL the page's form posts to
    mturk_fields: dict = field(default_factory=dict)
    return_instructions: str = ""  # no code to give: how to return the study instead


def ending(study: Study, outcome: str, source: str = "", meta: dict | None = None) -> Ending:
    """The ending of `outcome` for a participant from `source` ('prolific', 'mturk' or '')."""
    code = outcome_code(study, outcome)
    meta = meta or {}
    own_redirect = study.completion_url if outcome == Outcome.COMPLETED else ""
    if source == "prolific":
        if code:
            return Ending(outcome, code, redirect_url=prolific_completion_url(code))
        if own_redirect:  # a study set up with its whole Prolific URL and no code keeps working
            return Ending(outcome, redirect_url=own_redirect)
        return Ending(outcome, return_instructions=return_instructions("prolific"))
    if source == "mturk":
        assignment = meta.get("assignmentId", "")
        action = mturk_submit_url(study)
        if action and assignment and outcome != Outcome.NO_CONSENT:
            # MTurk needs assignmentId and at least one more field; the outcome and code say how it went.
            fields = {"assignmentId": assignment, "outcome": outcome, "code": code or outcome}
            return Ending(outcome, code, mturk_action=action, mturk_fields=fields)
        # Not submitted from here: those who did not finish return the HIT; the others enter the code.
        unfinished = outcome in (Outcome.NO_CONSENT, Outcome.SCREENED_OUT, Outcome.TIMED_OUT)
        return Ending(
            outcome,
            code,
            redirect_url=own_redirect,
            return_instructions=return_instructions("mturk") if unfinished else "",
        )
    return Ending(outcome, code, redirect_url=own_redirect)


def participant_ending(participant: Participant) -> Ending:
    return ending(
        participant.study,
        participant.outcome or Outcome.COMPLETED,
        participant.external_source,
        participant.external_meta,
    )


# --- outcomes decided at the end ------------------------------------------------------------------
def failed_checks(participant: Participant) -> int:
    return Response.objects.filter(
        assignment__participant=participant, assignment__is_attention_check=True, correct=False
    ).count()


def completion_outcome(participant: Participant) -> str:
    """Completed, or failed attention checks when the study's rule says so (Prolific's: two)."""
    limit = participant.study.failed_checks_for_code
    if limit and failed_checks(participant) >= limit:
        return Outcome.FAILED_CHECKS
    return Outcome.COMPLETED


def is_timed_out(participant: Participant, now=None) -> bool:
    """An active participant past the study's time limit (read from memory: no query)."""
    limit = participant.study.time_limit_minutes
    if not limit or participant.status != ParticipantStatus.ACTIVE or participant.consented_at is None:
        return False
    return (now or timezone.now()) - participant.consented_at > timedelta(minutes=limit)


def do_time_out(participant: Participant, now=None) -> Participant:
    """End an active participation that ran past the time limit: its slot is freed, its answers kept."""
    now = now or timezone.now()
    Participant.objects.filter(pk=participant.pk, status=ParticipantStatus.ACTIVE).update(
        status=ParticipantStatus.ABANDONED, outcome=Outcome.TIMED_OUT, last_seen_at=now
    )
    participant.refresh_from_db(fields=["status", "outcome", "last_seen_at"])
    return participant


# --- screeners ------------------------------------------------------------------------------------
def screener_errors(screeners) -> list[str]:
    """What is wrong with a study's eligibility questions (empty when fine)."""
    if screeners in (None, "", []):
        return []
    if not isinstance(screeners, list):
        return ["screeners must be a list of questions"]
    if len(screeners) > MAX_SCREENERS:
        return [f"at most {MAX_SCREENERS} screeners"]
    errors, names = [], set()
    for number, item in enumerate(screeners, start=1):
        where = f"screener {number}"
        if not isinstance(item, dict):
            errors.append(f"{where} must be an object with name, question, options and eligible")
            continue
        unknown = set(item) - {"name", "question", "options", "eligible"}
        if unknown:
            errors.append(f"{where} has unknown keys: {', '.join(sorted(map(str, unknown)))}")
        name, question = item.get("name"), item.get("question")
        options, eligible = item.get("options"), item.get("eligible")
        if not isinstance(name, str) or not name.strip() or len(name) > 50:
            errors.append(f"{where} needs a name (up to 50 characters)")
        elif name in names:
            errors.append(f"{where}: the name {name!r} is used twice")
        else:
            names.add(name)
        if not isinstance(question, str) or not question.strip() or len(question) > MAX_SCREENER_TEXT:
            errors.append(f"{where} needs a question (up to {MAX_SCREENER_TEXT} characters)")
        if (
            not isinstance(options, list)
            or len(options) < 2
            or not all(isinstance(o, str) and o.strip() and len(o) <= MAX_SCREENER_TEXT for o in options)
            or len(set(options)) != len(options)
        ):
            errors.append(f"{where} needs at least two distinct options (texts)")
            continue
        if not isinstance(eligible, list) or not eligible or not all(e in options for e in eligible):
            errors.append(f"{where}: eligible must list at least one of its options")
    return errors


def recruitment_errors(study: Study) -> list[str]:
    """What is wrong with a study's recruitment settings (empty when fine); part of its configuration check."""
    errors = screener_errors(study.screeners)
    codes = {}
    for outcome, name in CODE_FIELDS.items():
        code = getattr(study, name)
        if code:
            codes.setdefault(code, []).append(Outcome(outcome).label.lower())
    for code, outcomes in codes.items():
        if len(outcomes) > 1:
            errors.append(f"the code {code} is given for {' and '.join(outcomes)}: each outcome needs its own code")
    if study.screeners and not study.screened_out_code:
        errors.append("a study with screeners needs a screened-out code")
    if study.external_id_protection == ENCRYPT:
        problem = encryption_problem()
        if problem:
            errors.append(f"ids cannot be kept encrypted: {problem}")
    if study.mturk_environment and study.mturk_environment not in settings.MTURK_EXTERNAL_SUBMIT_URLS:
        errors.append(f"unknown MTurk environment {study.mturk_environment!r}")
    return errors


class ScreeningError(ValueError):
    """An answer to the screeners that is missing or not one of the options (a forged form)."""


def is_eligible(study: Study, answers) -> bool:
    """Whether the answers (a mapping of screener name to option) pass every screener."""
    eligible = True
    for item, shown in zip(study.screeners or [], shown_screeners(study.screeners), strict=True):
        answer = answers.get(f"screener_{item['name']}")
        if answer not in item["options"]:
            raise ScreeningError(
                _("Please answer the question “%(question)s” with one of its options.")
                % {"question": shown["question"]}
            )
        eligible = eligible and answer in item["eligible"]
    return eligible


def screening_pass(study: Study, external_id: str) -> str:
    """A signed note that this person (this study, this external id) passed the screeners."""
    return signing.dumps({"study": study.pk, "id": external_id}, salt=SCREEN_SALT)


def has_passed_screening(study: Study, external_id: str, note: str) -> bool:
    try:
        value = signing.loads(note or "", salt=SCREEN_SALT, max_age=SCREEN_PASS_MAX_AGE)
    except signing.BadSignature:
        return False
    return value == {"study": study.pk, "id": external_id}


def do_screen_out(study: Study, identity, *, pilot: bool = False, simulated: bool = False) -> tuple[Participant, bool]:
    """Record a person screened out: the id (kept as the study says) and the outcome, not their answers,
    so that the researcher can pay the screening and the same id cannot try again. No condition slot.
    Returns the participant and whether it was made here (False: a racing request made it first)."""
    return _record_ending_before_consent(
        study, identity, ParticipantStatus.SCREENED_OUT, Outcome.SCREENED_OUT, pilot=pilot, simulated=simulated
    )


def do_decline(study: Study, identity, *, pilot: bool = False, simulated: bool = False) -> tuple[Participant, bool]:
    """Record a person from a recruitment platform who declined consent: the id and the no-consent
    outcome (the participants CSV gives it with its code), no answers, no condition slot, no plan.
    A decline is final for that id, as a screening out is: the link shows the no-consent ending again.
    Returns the participant and whether it was made here. Without a platform id nothing is recorded
    (returns None, False): there is nobody to tell the platform about."""
    if not identity.external_id:
        return None, False
    return _record_ending_before_consent(
        study, identity, ParticipantStatus.DECLINED, Outcome.NO_CONSENT, pilot=pilot, simulated=simulated
    )


def _record_ending_before_consent(
    study: Study, identity, status: str, outcome: str, *, pilot: bool, simulated: bool
) -> tuple[Participant, bool]:
    participant = Participant(
        study=study,
        external_source=identity.source if identity.external_id else "",
        external_id=identity.stored_id,
        external_id_encrypted=encrypted_external_id(study, identity.external_id),
        external_meta=identity.meta if identity.external_id else {},
        status=status,
        outcome=outcome,
        is_pilot=pilot,
        is_simulated=simulated,
        completed_at=timezone.now(),
    )
    try:
        with transaction.atomic():
            participant.save(force_insert=True)
    except IntegrityError:
        # The same id was recorded in another request at the same moment: that one stands.
        existing = Participant.objects.filter(
            study=study, external_source=identity.source, external_id=identity.stored_id
        ).first()
        if existing is None:
            raise
        return existing, False
    return participant, True
