"""The participant flow as plain functions: start or resume, consent, answers, questionnaire, completion.

Views (participant_views.py), the simulated-participant bots and the tests all call these. Every
function either does its whole job or raises a `ParticipationError` with a message a participant can
read and an HTTP status, having written nothing.

Guarantees that rest on the database, not only on these checks:
- one participation per (study, external source, external id): a unique constraint;
- one response per assignment (OneToOne) and one per idempotency key (unique): a double click, a
  retry after a network error or two racing requests record exactly one row, and the replay gets
  the same success answer;
- a condition is a slot row claimed with SELECT ... FOR UPDATE SKIP LOCKED and held by one
  participant (OneToOne): racing consents take different slots, and no lock spans the study;
- an answer advances the participant's `answered_count` only from the position it answers, in the
  same transaction as its row (a conditional UPDATE that locks the participant), so answers are
  recorded in order and the counter always equals the number of responses.
"""

from __future__ import annotations

import functools
import hmac
import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .. import design
from ..kinds import AnswerError, kind_of
from ..models import (
    Assignment,
    ConditionSlot,
    Design,
    Participant,
    ParticipantStatus,
    Response,
    Study,
    StudyStatus,
    Trial,
    TrialKind,
    TrialPanel,
)
from ..prepared_queries import PreparedInsert, PreparedQuery, attach_prefetched
from .privacy import EncryptionUnavailable, encrypted_external_id, external_id_for_storage
from .recruitment import completion_outcome

# Query parameters recorded from recruitment platforms: the id parameter, then the extras.
EXTERNAL_PARAMS = {
    "prolific": ("PROLIFIC_PID", ("STUDY_ID", "SESSION_ID")),
    "mturk": ("workerId", ("assignmentId", "hitId", "turkSubmitTo")),
}
MTURK_PREVIEW_ASSIGNMENT = "ASSIGNMENT_ID_NOT_AVAILABLE"
# The per-submission parameter that only the participant's own recruitment link carries: ids are
# not secret (an MTurk worker id is public), so resuming in another browser needs this too.
PROOF_PARAMS = {"prolific": "SESSION_ID", "mturk": "assignmentId"}
STARTED_ELSEWHERE = gettext_lazy(
    "This study was started in another browser. Please continue there, or contact the researcher."
)
MAX_EXTERNAL_LENGTH = 255
MAX_COMMENT_LENGTH = 5000
MAX_RT_MS = 24 * 3600 * 1000
TOUCH_INTERVAL = timedelta(minutes=1)
PILOT_STATUSES = (StudyStatus.DRAFT, StudyStatus.READY, StudyStatus.LIVE)
# Free places made per arm when every place is taken. In a recruitment wave every consent that finds
# none (a dozen at once) adds places and tries again: more ranks ahead make that rarer.
SLOT_RANKS_AHEAD = 16
MAX_SLOT_ROUNDS = 50

ALREADY_ANSWERED = gettext_lazy("This trial has already been answered.")
WITHDRAWN = gettext_lazy("You have withdrawn from this study. Nothing more is recorded.")


class ParticipationError(Exception):
    """Something a participant (or a forged request) caused: a message to show and an HTTP status."""

    status = 400

    def __init__(self, message: str, status: int | None = None):
        message = str(message)  # a lazy translation, in the language of the page that raised it
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class StudyNotOpen(ParticipationError):
    status = 404


class AlreadyCompleted(ParticipationError):
    status = 409


# --- who is this ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExternalIdentity:
    source: str = ""
    external_id: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def stored_id(self) -> str:
        """The id as the database keeps it: a keyed hash unless HASH_EXTERNAL_IDS is off."""
        return external_id_for_storage(self.source, self.external_id)

    @property
    def is_mturk_preview(self) -> bool:
        return self.source == "mturk" and self.meta.get("assignmentId") == MTURK_PREVIEW_ASSIGNMENT


NUL_REFUSED = gettext_lazy(
    "The text you sent contains a NUL character (%00), which cannot be stored. Please remove it and try again."
)


def check_no_nul(*texts: str) -> None:
    """PostgreSQL cannot store NUL in text: refuse it with a clear message instead of failing later."""
    if any("\x00" in str(text) for text in texts):
        raise ParticipationError(NUL_REFUSED)


def _clean_param(value) -> str:
    value = str(value or "").strip()
    if len(value) > MAX_EXTERNAL_LENGTH or any(ord(ch) < 32 for ch in value):
        raise ParticipationError(_("The link you followed carries a malformed participant id."))
    return value


def external_identity(params) -> ExternalIdentity:
    """The recruitment platform's id and extras from query (or form) parameters; empty if none."""
    for source, (id_param, extras) in EXTERNAL_PARAMS.items():
        ext_id = _clean_param(params.get(id_param))
        preview = source == "mturk" and params.get("assignmentId") == MTURK_PREVIEW_ASSIGNMENT
        if ext_id or preview:
            meta = {name: _clean_param(params.get(name)) for name in extras if params.get(name)}
            return ExternalIdentity(source, ext_id, meta)
    return ExternalIdentity()


def external_query(identity: ExternalIdentity) -> dict[str, str]:
    """The parameters that carry `identity` through a form, as the platform spelled them."""
    if not identity.source:
        return {}
    id_param, extras = EXTERNAL_PARAMS[identity.source]
    out = {id_param: identity.external_id} if identity.external_id else {}
    out.update({k: v for k, v in identity.meta.items() if k in extras})
    return out


# --- is the study open ---------------------------------------------------------------------------
def can_pilot(study: Study, user) -> bool:
    """Staff may preview a study before launch (ready, or draft with trials) as a pilot participant."""
    if not (user is not None and user.is_authenticated and user.is_staff):
        return False
    return study.status in PILOT_STATUSES and study.trials.exists()


def check_open_for_new(study: Study, *, pilot: bool) -> None:
    if pilot:
        return
    if study.status == StudyStatus.CLOSED:
        raise StudyNotOpen("This study is closed and no longer accepts new participants. Thank you for your interest.")
    if study.status != StudyStatus.LIVE:
        raise StudyNotOpen("This study is not open yet. Please try again later.")


def check_open_for(participant: Participant) -> None:
    """Participants who started may finish, even if the study closed meanwhile."""
    if participant.is_pilot:
        return
    if participant.study.status not in (StudyStatus.LIVE, StudyStatus.CLOSED):
        raise StudyNotOpen("This study is not open at the moment. Please try again later.")


# --- start and resume ----------------------------------------------------------------------------
@dataclass
class StartDecision:
    """What the entry page should do: show consent, resume someone, or refuse."""

    action: str  # consent | resume | refuse
    participant: Participant | None = None
    identity: ExternalIdentity = field(default_factory=ExternalIdentity)
    pilot: bool = False
    message: str = ""


# The lookups of every participant page, compiled once per process (studies/prepared_queries.py).
_PARTICIPANT_BY_TOKEN = PreparedQuery(
    lambda study_id, token: Participant.objects.filter(study_id=study_id, token=token).order_by()[:1]
)
_PARTICIPANT_BY_EXTERNAL_ID = PreparedQuery(
    lambda study_id, source, external_id: Participant.objects.filter(
        study_id=study_id, external_source=source, external_id=external_id
    ).order_by()[:1]
)


def find_by_token(study: Study, token: str | None) -> Participant | None:
    if not token:
        return None
    participant = _PARTICIPANT_BY_TOKEN.first(study.pk, token)
    if participant is not None:
        participant.study = study  # the view has the study
    return participant


def find_by_external(study: Study, identity: ExternalIdentity) -> Participant | None:
    if not identity.external_id:
        return None
    participant = _PARTICIPANT_BY_EXTERNAL_ID.first(study.pk, identity.source, identity.stored_id)
    if participant is not None:
        participant.study = study
    return participant


def _same_secret(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode(), str(b).encode())


def check_holder(participant: Participant, identity: ExternalIdentity, token: str | None) -> None:
    """Refuse to hand a participation to a browser that cannot show it holds it: its cookie, or the
    recruitment link's per-submission parameter equal to the one stored at consent."""
    if _same_secret(token, participant.token):
        return
    param = PROOF_PARAMS.get(identity.source, "")
    if _same_secret(identity.meta.get(param, ""), (participant.external_meta or {}).get(param, "")):
        return
    raise ParticipationError(STARTED_ELSEWHERE, status=403)


def do_start(study: Study, *, params, token: str | None = None, user=None) -> StartDecision:
    """Decide what a visit to the entry page means. Writes nothing.

    A recruitment-platform id wins over the cookie (shared computers): a known id resumes its own
    participation if unfinished (in another browser only with proof, see `check_holder`) and is
    refused if finished; an unknown id goes to consent. Without an id, the signed cookie's
    participant resumes.
    """
    identity = external_identity(params)
    pilot = bool(params.get("pilot")) and can_pilot(study, user)
    existing = find_by_external(study, identity) if identity.external_id else find_by_token(study, token)
    if existing is not None:
        if existing.status == ParticipantStatus.WITHDRAWN:
            raise ParticipationError(WITHDRAWN, status=409)
        if existing.status == ParticipantStatus.COMPLETED:
            if identity.external_id:
                raise AlreadyCompleted("You have already completed this study. Thank you! It can be taken only once.")
            return StartDecision("resume", existing, identity)
        if existing.outcome and existing.status != ParticipantStatus.ACTIVE:
            # Screened out, declined or timed out: the holder sees the ending (and its code) again.
            check_holder(existing, identity, token)
            return StartDecision("resume", existing, identity)
        if existing.status == ParticipantStatus.ABANDONED:
            raise ParticipationError(_("This participation has been ended by the researchers."), status=409)
        if identity.external_id:
            check_holder(existing, identity, token)
        check_open_for(existing)
        return StartDecision("resume", existing, identity)
    check_open_for_new(study, pilot=pilot)
    return StartDecision("consent", None, identity, pilot)


# --- consent and condition assignment ------------------------------------------------------------
def _slot_cutoff(study: Study, now=None):
    return (now or timezone.now()) - timedelta(minutes=study.inactivity_timeout_minutes)


def holding_filter(study: Study, now=None) -> Q:
    """Participants who hold a condition slot: completed, or active and seen within the timeout."""
    return Q(status=ParticipantStatus.COMPLETED) | Q(
        status=ParticipantStatus.ACTIVE, last_seen_at__gte=_slot_cutoff(study, now)
    )


def dropped_filter(study: Study, now=None) -> Q:
    """The others (`holding_filter`'s complement), spelled so that the participant_activity index
    finds them without reading the participants who hold a slot."""
    return _dropped_since(_slot_cutoff(study, now), ParticipantStatus.ABANDONED, ParticipantStatus.ACTIVE)


def _dropped_since(cutoff, abandoned: str, active: str) -> Q:
    return Q(status=abandoned) | Q(status=active, last_seen_at__lt=cutoff)


def study_bank(study: Study) -> list[design.BankEntry]:
    """The study's trial bank (main trials and attention checks) as design.BankEntry rows."""
    return _bank_with_trial_ids(study)[0]


# Every consent reads its study's whole bank. A live study's trials never change (generation is
# refused once it is live), so each process keeps the banks it read, and serves one again only while
# the trials' count and newest id (one small query) say the bank is the one it read.
_LIVE_BANKS: dict[int, tuple[tuple, tuple[list[design.BankEntry], dict[int, int]]]] = {}
_LIVE_BANKS_KEPT = 16
_BANK_VERSION = PreparedQuery(
    lambda study_id, kinds: (
        Trial.objects.filter(study_id=study_id, kind__in=kinds)
        .order_by()
        .values("study_id")
        .annotate(n=Count("id"), newest=Max("id"))
        .values_list("n", "newest")
    )
)


def _bank_with_trial_ids(study: Study) -> tuple[list[design.BankEntry], dict[int, int]]:
    """The bank, and the trial id of each bank index; shared, not to be changed by the caller."""
    if study.status != StudyStatus.LIVE:
        return _read_bank_with_trial_ids(study)
    version = _BANK_VERSION(study.pk, [TrialKind.MAIN, TrialKind.ATTENTION])
    key = (study.launched_at, *(version[0] if version else (0, None)))
    kept = _LIVE_BANKS.get(study.pk)
    if kept is not None and kept[0] == key:
        return kept[1]
    found = _read_bank_with_trial_ids(study)
    if len(_LIVE_BANKS) >= _LIVE_BANKS_KEPT:
        _LIVE_BANKS.clear()
    _LIVE_BANKS[study.pk] = (key, found)
    return found


def _read_bank_with_trial_ids(study: Study) -> tuple[list[design.BankEntry], dict[int, int]]:
    """The bank, and the trial id of each bank index (one query for both)."""
    # Every consent reads the whole bank (hundreds of rows): tuples, not model instances, and the
    # JSON as text decoded once per distinct value (the options are a few class pairs over and over).
    rows = list(
        Trial.objects.filter(study=study, kind__in=[TrialKind.MAIN, TrialKind.ATTENTION])
        .order_by("index")
        .annotate(options_text=Cast("options", TextField()), payload_text=Cast("payload", TextField()))
        .values_list("id", "index", "kind", "image_id", "method", "target_class", "options_text", "payload_text")
    )
    options = functools.cache(lambda text: tuple(json.loads(text)) if text else ())
    payload = functools.cache(lambda text: (json.loads(text) if text else None) or {})
    bank = [design.BankEntry(*row[1:6], options(row[6]), payload(row[7])) for row in rows]
    return bank, {row[1]: row[0] for row in rows}


def participant_seed(study: Study, public_id) -> int:
    return design.derive_seed(study.seed, "participant", public_id)


def slot_arms(study: Study, methods: list[str]) -> list[str]:
    """What the condition slots balance: the study's arms (between subjects: its methods and the
    control arm, `Study.arms`) or the Latin-square rows over them (within subjects, as text), in
    order; ties in balance go to the earlier one."""
    if study.design == Design.WITHIN:
        return [str(row) for row in range(len(design.williams_square(len(methods))))]
    return list(methods)


def release_dropped_slots(study: Study, pilot: bool, now=None) -> int:
    """Free the slots of participants who no longer hold one (timed out, or ended by the researchers).

    One short read, and two UPDATEs only when someone dropped; a dropout who returns later keeps its
    condition and plan."""
    # Two statements, not an UPDATE with a subquery: on a table that filled within seconds (a
    # recruitment wave) the planner's statistics said one row, and it joined every slot to every
    # participant, so each consent cost more than the last. Usually nobody who dropped still holds
    # a slot: no write at all, and the read touches only the slot holders' index entries.
    statuses = (ParticipantStatus.ABANDONED.value, ParticipantStatus.ACTIVE.value)
    dropped_ids = [row[0] for row in _DROPPED_HOLDING_A_SLOT(study.pk, pilot, _slot_cutoff(study, now), *statuses)]
    if not dropped_ids:
        return 0
    with transaction.atomic():
        freed = ConditionSlot.objects.filter(study=study, is_pilot=pilot, participant_id__in=dropped_ids).update(
            participant=None
        )
        Participant.objects.filter(pk__in=dropped_ids).update(holds_slot=False)
    return freed


_DROPPED_HOLDING_A_SLOT = PreparedQuery(
    lambda study_id, pilot, cutoff, abandoned, active: (
        # `holds_slot` is set with the slot's claim and cleared with its release (above), so the
        # slot_holders_activity index leaves out every dropout whose slot is already free.
        Participant.objects.filter(study_id=study_id, is_pilot=pilot, holds_slot=True)
        .filter(_dropped_since(cutoff, abandoned, active))
        .order_by()
        .values_list("id")
    )
)


def add_slot_ranks(study: Study, pilot: bool, arms: list[str], ranks: int = SLOT_RANKS_AHEAD) -> None:
    """Make `ranks` more free places in every arm. Concurrent calls may add the same places: the
    unique constraint keeps one of each, in a short transaction of its own."""
    have = dict(
        ConditionSlot.objects.filter(study=study, is_pilot=pilot, arm__in=arms)
        .values_list("arm")
        .annotate(n=Count("id"))
        .values_list("arm", "n")
    )
    ConditionSlot.objects.bulk_create(
        [
            ConditionSlot(study=study, is_pilot=pilot, arm=arm, arm_order=order, rank=have.get(arm, 0) + k)
            for k in range(ranks)
            for order, arm in enumerate(arms)
        ],
        ignore_conflicts=True,
    )


def claim_slot(study: Study, pilot: bool, arms: list[str]) -> ConditionSlot | None:
    """Lock the free slot of lowest rank (then earliest arm) that no concurrent consent has locked.

    Must run inside the consent's transaction: the lock keeps the slot until the participant holding
    it is committed, and other consents skip to the next place meanwhile."""
    return _FREE_SLOT.first(study.pk, pilot, list(arms))


_STUDY_STATUS = PreparedQuery(lambda study_id: Study.objects.filter(pk=study_id).values_list("status"))
_FREE_SLOT = PreparedQuery(
    lambda study_id, pilot, arms: (
        ConditionSlot.objects.select_for_update(skip_locked=True)
        .filter(study_id=study_id, is_pilot=pilot, arm__in=arms, participant=None)
        .order_by("rank", "arm_order")[:1]
    )
)


def do_consent(
    study: Study,
    *,
    identity: ExternalIdentity | None = None,
    pilot: bool = False,
    simulated: bool = False,
    now=None,
    token: str | None = None,
    started: StartDecision | None = None,
    language: str = "",
) -> Participant:
    """Create the participant with a condition and a stored plan, or return the existing one
    (to the browser that holds it: see `check_holder`). `language` is that of the consent accepted.

    `started` is `do_start`'s decision to consent, taken in this request on `study` as read in this
    request: the study's status and the identity's participation are not read again (a participation
    made in between by a racing request is still found, by the unique constraint).

    The condition is the free slot of lowest rank, claimed with SKIP LOCKED, so consents run side by
    side: two consents never take the same slot, and the arms stay within one participant of each
    other (counting only participants who hold a slot: dropouts free theirs).
    """
    identity = identity or ExternalIdentity()
    if identity.is_mturk_preview:
        raise ParticipationError(_("Please accept the HIT before starting the study."), status=403)
    now = now or timezone.now()
    if started is None or started.action != "consent":
        # The status as of now (it may have closed since `study` was read).
        study.status = _STUDY_STATUS(study.pk)[0][0]
        check_open_for_new(study, pilot=pilot)
        existing = find_by_external(study, identity)
        if existing is not None:
            check_holder(existing, identity, token)
            return existing
    bank, trial_ids = _bank_with_trial_ids(study)
    if not any(e.is_main for e in bank):
        raise StudyNotOpen("This study has no trials yet. Please try again later.")
    methods = list(study.arms) or sorted({e.method for e in bank if e.is_main})
    arms = slot_arms(study, methods)
    release_dropped_slots(study, pilot, now)
    for _round in range(MAX_SLOT_ROUNDS):
        try:
            with transaction.atomic():
                slot = claim_slot(study, pilot, arms)
                if slot is not None:
                    participant = _create_participant(
                        study, identity, pilot, simulated, slot, bank, trial_ids, methods, language
                    )
                    slot.participant = participant
                    slot.save(update_fields=["participant"])
                    return participant
        except IntegrityError:
            # The same external id consented in another request at the same moment: that one won.
            existing = find_by_external(study, identity)
            if existing is None:
                raise
            check_holder(existing, identity, token)
            return existing
        add_slot_ranks(study, pilot, arms)  # every place is taken or being taken
    raise ParticipationError(_("Many people are starting at this moment. Please try again in a few seconds."), 503)


def _create_participant(
    study: Study,
    identity: ExternalIdentity,
    pilot: bool,
    simulated: bool,
    slot: ConditionSlot,
    bank: list[design.BankEntry],
    trial_ids: dict[int, int],
    methods: list[str],
    language: str = "",
) -> Participant:
    try:
        encrypted = encrypted_external_id(study, identity.external_id)
    except EncryptionUnavailable:
        raise ParticipationError(
            _("This study cannot take participants at the moment. Please try again later."), 503
        ) from None
    participant = Participant(
        study=study,
        external_source=identity.source if identity.external_id else "",
        external_id=identity.stored_id,
        external_id_encrypted=encrypted,
        external_meta=identity.meta if identity.external_id else {},
        is_pilot=pilot,
        is_simulated=simulated,
        consent_version=study.consent_version or None,
        language=language,
    )
    participant.seed = participant_seed(study, participant.public_id)
    condition, latin_row = None, None
    if study.design == Design.WITHIN:
        latin_row = participant.latin_square_row = slot.arm_order
    else:
        condition = participant.condition = slot.arm
    plan = kind_of(study).participant_plan(
        study, bank, arms=methods, participant_seed=participant.seed, condition=condition, latin_row=latin_row
    )
    participant.trial_count = len(plan)
    participant.holds_slot = True  # claimed in this transaction (do_consent)
    participant.save()
    _INSERT_ASSIGNMENTS(
        [
            Assignment(
                participant=participant,
                position=p.position,
                trial_id=trial_ids[p.bank_index],
                option_order=list(p.option_order),
                presentation=dict(p.presentation),
                is_attention_check=p.is_attention_check,
            )
            for p in plan
        ]
    )
    return participant


_INSERT_ASSIGNMENTS = PreparedInsert(Assignment)


# --- where is the participant --------------------------------------------------------------------
def upcoming_assignments(participant: Participant, n: int = 2) -> list[Assignment]:
    """The current trial and the ones after it (up to `n`), with trials and their panels' stimuli
    (two queries).

    Answers are recorded in order, so the current trial is at position `answered_count`."""
    start = participant.answered_count
    upcoming = _ASSIGNMENTS_FROM(participant.pk, start, start + n)
    trials = [assignment.trial for assignment in upcoming]
    if trials:
        attach_prefetched(trials, "panels", _PANELS_OF([t.pk for t in trials]), "trial_id")
    return upcoming


_ASSIGNMENTS_FROM = PreparedQuery(
    lambda participant_id, start, end: (
        Assignment.objects.select_related("trial")
        .filter(participant_id=participant_id, position__gte=start, position__lt=end)
        .order_by("position")
    )
)
_PANELS_OF = PreparedQuery(
    lambda trial_ids: TrialPanel.objects.select_related("stimulus").filter(trial_id__in=trial_ids)
)


def current_assignment(participant: Participant) -> Assignment | None:
    """The first unanswered trial, with its trial and stimuli, or None when all are answered."""
    upcoming = upcoming_assignments(participant, 1)
    return upcoming[0] if upcoming else None


def next_step(participant: Participant) -> str:
    """instructions | trial | questionnaire | done."""
    if participant.status == ParticipantStatus.COMPLETED or participant.outcome:
        return "done"
    if participant.answered_count == 0 and participant.trial_count > 0:
        return "instructions"
    if participant.answered_count < participant.trial_count:
        return "trial"
    return "questionnaire"


def touch(participant: Participant, now=None) -> None:
    """Record activity (keeps the condition slot held); one UPDATE, no read."""
    participant.last_seen_at = now or timezone.now()
    Participant.objects.filter(pk=participant.pk).update(last_seen_at=participant.last_seen_at)


def touch_if_stale(participant: Participant, now=None) -> None:
    """Record activity unless it was recorded within TOUCH_INTERVAL: a trial page follows an answer
    (which records it) within seconds, and the slot timeout is counted in minutes."""
    now = now or timezone.now()
    if participant.last_seen_at is None or now - participant.last_seen_at >= TOUCH_INTERVAL:
        touch(participant, now)


def mark_shown(assignment: Assignment, now=None) -> None:
    """The server time the trial was first shown (kept beside the client's response time)."""
    if assignment.shown_at is None:
        assignment.shown_at = now or timezone.now()
        Assignment.objects.filter(pk=assignment.pk, shown_at__isnull=True).update(shown_at=assignment.shown_at)


# --- answers -------------------------------------------------------------------------------------
@dataclass
class AnswerResult:
    response: Response
    replay: bool  # True: this idempotency key had already been recorded; nothing new was written
    finished: bool  # True: that was the last trial


def _parse_int(value, what: str, low: int | None = None, high: int | None = None) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise ParticipationError(_("%(what)s: missing or not a whole number.") % {"what": what}) from None
    if (low is not None and number < low) or (high is not None and number > high):
        raise ParticipationError(_("%(what)s: %(number)s is out of range.") % {"what": what, "number": number})
    return number


def _parse_key(value) -> uuid.UUID:
    try:
        return uuid.UUID(str(value or "").strip())
    except ValueError:
        raise ParticipationError(_("The answer carries no valid idempotency key; please reload the page.")) from None


def _replay(participant: Participant, key: uuid.UUID, data) -> AnswerResult | None:
    existing = Response.objects.select_related("assignment").filter(idempotency_key=key).first()
    if existing is None:
        return None
    if existing.assignment.participant_id != participant.pk:
        raise ParticipationError(_("This answer key belongs to another session."), status=409)
    if str(data.get("assignment", "")).strip() != str(existing.assignment_id):
        # A replay repeats one answer; the same key on another trial would be acknowledged unstored.
        raise ParticipationError(
            _(
                "This answer key was already used for trial %(number)s; the answer to trial id %(id)s was not "
                "recorded. Please reload the page."
            )
            % {"number": existing.assignment.position + 1, "id": str(data.get("assignment", ""))[:20]},
            status=409,
        )
    return AnswerResult(existing, replay=True, finished=False)


def do_answer(participant: Participant, data) -> AnswerResult:
    """Record one answer, exactly once. `data`: assignment, position, idempotency_key, choice or
    rating, rt_ms (optional). Refuses (writing nothing) anything that is not the participant's
    current trial or not one of its options."""
    key = _parse_key(data.get("idempotency_key"))
    try:
        return _record(participant, data, key)
    except ParticipationError as err:
        # A retry of a recorded answer (or a racing request with the same key that committed first)
        # finds its trial answered, or its key taken: that is a replay, not an error.
        if err.status == 409:
            replay = _replay(participant, key, data)
            if replay is not None:
                return replay
        raise


def _record(participant: Participant, data, key: uuid.UUID) -> AnswerResult:
    if participant.status != ParticipantStatus.ACTIVE:
        raise ParticipationError(_("Your answers are complete; nothing more can be recorded."), status=409)
    assignment_id = _parse_int(data.get("assignment"), _("Trial id"), 0, 2**62)
    position = _parse_int(data.get("position"), _("Trial position"), 0, 100_000)
    assignment = Assignment.objects.select_related("trial").filter(pk=assignment_id, participant=participant).first()
    if assignment is None:
        raise ParticipationError(_("This trial is not part of your session."), status=404)
    if assignment.position != position:
        raise ParticipationError(_("The trial position does not match this trial."), status=409)
    if position < participant.answered_count:  # the counter only grows: an older object still proves it
        raise ParticipationError(ALREADY_ANSWERED, status=409)

    rt = data.get("rt_ms")
    rt_ms = None
    if rt not in (None, ""):
        try:
            rt_ms = max(0, min(MAX_RT_MS, round(float(rt))))
        except (TypeError, ValueError, OverflowError):
            raise ParticipationError(_("The response time is not a number.")) from None

    try:
        scored = kind_of(participant.study).parse_answer(assignment, data)
    except AnswerError as err:
        raise ParticipationError(str(err)) from None
    check_no_nul(*(str(v) for v in scored.answer.values()))
    response = Response(
        assignment=assignment,
        idempotency_key=key,
        rt_ms=rt_ms,
        answer=dict(scored.answer),
        correct=scored.correct,
        score=scored.score,
        confidence=scored.confidence,
    )

    now = timezone.now()
    try:
        with transaction.atomic():
            # Advancing the counter from exactly this position locks the participant's row: a racing
            # answer waits here, then finds the counter moved and writes nothing.
            advanced = Participant.objects.filter(
                pk=participant.pk, status=ParticipantStatus.ACTIVE, answered_count=position
            ).update(answered_count=F("answered_count") + 1, last_seen_at=now)
            if not advanced:
                raise _refusal_out_of_turn(participant, position)
            response.save(force_insert=True)
    except IntegrityError:
        # The trial or the idempotency key is taken (do_answer turns a same-key race into a replay).
        raise ParticipationError(ALREADY_ANSWERED, status=409) from None
    participant.answered_count, participant.last_seen_at = position + 1, now
    return AnswerResult(response, replay=False, finished=position + 1 >= participant.trial_count)


# --- the end -------------------------------------------------------------------------------------
def _refusal_out_of_turn(participant: Participant, position: int) -> ParticipationError:
    """Why the counter did not advance from `position`, read from the database (the caller's object
    may be older than the last answer)."""
    participant.refresh_from_db(fields=["status", "answered_count"])
    if participant.status != ParticipantStatus.ACTIVE:
        return ParticipationError(_("Your answers are complete; nothing more can be recorded."), status=409)
    if position < participant.answered_count:
        return ParticipationError(ALREADY_ANSWERED, status=409)
    return ParticipationError(_("Please answer the trials in order; reload the page to continue."), status=409)


def do_questionnaire(participant: Participant, comment: str) -> Participant:
    """Store the optional comment and mark the participation completed (idempotent)."""
    comment = str(comment or "").strip()
    check_no_nul(comment)
    if len(comment) > MAX_COMMENT_LENGTH:
        raise ParticipationError(
            _("Please keep the comment under %(count)s characters.") % {"count": MAX_COMMENT_LENGTH}
        )
    if participant.status == ParticipantStatus.COMPLETED:
        return participant
    if next_step(participant) != "questionnaire":
        raise ParticipationError(_("Please answer all trials first."), status=409)
    now = timezone.now()
    Participant.objects.filter(pk=participant.pk, status=ParticipantStatus.ACTIVE).update(
        comment=comment,
        status=ParticipantStatus.COMPLETED,
        outcome=completion_outcome(participant),
        completed_at=now,
        last_seen_at=now,
    )
    participant.refresh_from_db()
    return participant
