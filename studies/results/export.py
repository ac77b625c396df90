"""CSV exports of a study: responses (long format), participants and stimuli (provenance).

Every export is a generator of rows read a page at a time (the responses and participants by pages
of participants, `participant_pages`; the stimuli by pages of ids), so that a study of any size
streams through bounded memory, to a file (management command) or to the browser
(StreamingHttpResponse), with or without server-side cursors (none behind PgBouncer). The columns
are described in docs/codebook.md, tested against it.

Text cells that a spreadsheet would execute as a formula (starting with =, +, -, @, ;, |, tab or
carriage return, also in fullwidth form or behind zero-width characters) get a leading apostrophe. Numbers are written as numbers and never altered.
"""

from __future__ import annotations

import csv
import json
import re
import statistics
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import groupby
from pathlib import Path

from django.db.models import Q

from ..design import NO_ENGINE, latin_condition
from ..kinds import kind_columns, kind_of
from ..models import (
    ClassifierModel,
    Outcome,
    Participant,
    ParticipantStatus,
    Response,
    Stimulus,
    Study,
    Trial,
    TrialKind,
    TrialPanel,
)
from ..participants.privacy import EncryptionUnavailable, readable_external_id
from ..participants.recruitment import outcome_code
from .analysis import (
    LIST_SEPARATOR,
    REASON_SEPARATOR,
    REASON_WITHDRAWN,
    ExclusionRules,
    exclusion_reasons,
    frame_from_rows,
)

CHUNK_SIZE = 500  # rows fetched per round trip; memory holds about two chunks

RESPONSE_COLUMNS = [
    "study",
    "participant",
    "condition",
    "is_pilot",
    "excluded",
    "exclusion_reason",
    "position",
    "trial_kind",
    "image",
    "image_sha256",
    "model",
    "stronger_model",
    "weaker_model",
    "method",
    "target_class",
    "options",
    "choice",
    "correct",
    "rating",
    "rating_toward_stronger",
    "swapped",
    "rt_ms",
    "shown_at",
    "answered_at",
    "stimulus",
    "engine_version",
    "recipe_version",
    # Added with the task kinds (studies/kinds/): the answer as given, and its typed scoring.
    "answer",
    "score",
    "confidence",
    "prediction_correct",
]
# Then the columns each task kind adds (`TaskKind.export_columns`), in the registry's order.
RESPONSE_COLUMNS += list(kind_columns())

PARTICIPANT_COLUMNS = [
    "study",
    "participant",
    "condition",
    "latin_square_row",
    "status",
    "is_pilot",
    "is_simulated",
    "excluded",
    "exclusion_reason",
    "external_source",
    "has_external_id",
    "external_id",
    "consented_at",
    "last_seen_at",
    "completed_at",
    "duration_s",
    "assigned_trials",
    "responses",
    "attention_checks_answered",
    "attention_checks_failed",
    "median_rt_ms_main",
    "comment",
    "bonus",
    # Added with the recruitment outcomes (studies/participants/recruitment.py).
    "outcome",
    "outcome_code",
    # Added with consent versions and withdrawal (studies/participants/withdrawal.py).
    "consent_version",
    "withdrawn_at",
    # Added with the participants' languages (studies/i18n.py).
    "language",
]
QUESTIONNAIRE_PREFIX = "q_"
# Recorded without consent: consented_at is when they were recorded, and the export leaves it empty.
NEVER_CONSENTED = (ParticipantStatus.SCREENED_OUT, ParticipantStatus.DECLINED)

STIMULUS_COLUMNS = [
    "study",
    "stimulus",
    "content_key",
    "image",
    "image_sha256",
    "model",
    "model_arch",
    "method",
    "target_class",
    "target_index",
    "target_layer",
    "weights_sha256",
    "engine_version",
    "recipe_version",
    "render_style",
    "score",
    "png",
    "raw_map",
    "created_at",
    "trials",
    "provenance",
]

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", ";", "|")
# Invisible characters a spreadsheet may skip before it sees the "=".
ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))

# --- codebook ------------------------------------------------------------------------------
CODEBOOK_PATH = Path(__file__).resolve().parents[2] / "docs" / "codebook.md"
RESPONSES_SECTION, PARTICIPANTS_SECTION, STIMULI_SECTION = "Responses export", "Participants export", "Stimuli export"


@dataclass(frozen=True)
class Variable:
    """One documented column: its name, type (text, integer, number, boolean, timestamp, list, json) and meaning."""

    name: str
    type: str
    description: str


@lru_cache(maxsize=8)
def codebook_variables(section: str) -> tuple[Variable, ...]:
    """The columns documented in the table under '## <section>' of docs/codebook.md, in order.

    The codebook is the one description of every export column: the tests hold the exports to it, and
    the Psych-DS export and the API's schema describe their columns from it.
    """
    text = CODEBOOK_PATH.read_text(encoding="utf-8")
    if f"## {section}\n" not in text:
        raise KeyError(f"the codebook has no section {section!r}")
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    variables = []
    for line in body.splitlines():
        if line.startswith("| ") and not line.startswith("| column"):
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            variables.append(Variable(*cells[:3]))
    return tuple(variables)


def neutralize(value):
    """Defuse a text cell that a spreadsheet would run as a formula; numbers pass unchanged.

    The check reads the text as a spreadsheet may: compatibility forms folded (NFKC turns the
    fullwidth U+FF1D into "=") and zero-width characters dropped."""
    if isinstance(value, str) and unicodedata.normalize("NFKC", value).translate(ZERO_WIDTH).startswith(
        FORMULA_TRIGGERS
    ):
        return "'" + value
    return value


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return neutralize(value)


def _iso(dt):
    return dt.isoformat().replace("+00:00", "Z") if dt else None


def condition_label(study: Study, condition: str, latin_row: int | None) -> str:
    """Between subjects: the method; within: the Latin-square row and its order of methods."""
    if not condition and latin_row is not None and study.arms:
        return latin_condition(study.arms, latin_row)
    return condition


def engine_version(stimulus) -> str | None:
    """The engine version of a stimulus; empty for stimuli the engine did not make."""
    if stimulus is None or stimulus.engine_version == NO_ENGINE:
        return None
    return stimulus.engine_version


def rules_for(study: Study) -> ExclusionRules:
    return ExclusionRules(study.max_failed_attention_checks, study.min_median_rt_ms)


# --- per-participant figures, streamed -----------------------------------------------------
@dataclass
class ParticipantFigures:
    responses: int = 0
    attention_answered: int = 0
    attention_failed: int = 0
    main_rts: list = field(default_factory=list)
    reasons: list = field(default_factory=list)
    bonus: float | None = None

    @property
    def excluded(self) -> bool:
        return bool(self.reasons)

    @property
    def reason(self) -> str:
        return REASON_SEPARATOR.join(self.reasons)

    @property
    def median_rt_main(self):
        return statistics.median(self.main_rts) if self.main_rts else None


def participant_pages(study: Study, chunk_size: int = CHUNK_SIZE) -> Iterator[list[int]]:
    """The study's participant ids in export order (consented_at, id), in pages whose assignments add
    up to about `chunk_size` rows (at least one participant a page).

    A page is read whole, so memory holds one page whether or not the connection can keep a
    server-side cursor open: behind PgBouncer in transaction mode it cannot (settings:
    DISABLE_SERVER_SIDE_CURSORS), and `.iterator()` would then fetch a whole export at once."""
    from django.db.models import Count

    after = None
    while True:
        queryset = Participant.objects.filter(study=study).order_by("consented_at", "id")
        if after is not None:
            queryset = queryset.filter(Q(consented_at__gt=after[0]) | Q(consented_at=after[0], id__gt=after[1]))
        found = list(
            queryset.annotate(rows=Count("assignments")).values_list("consented_at", "id", "rows")[:chunk_size]
        )
        if not found:
            return
        page, rows = [], 0
        for _, participant_id, assigned in found:
            if page and rows + assigned > chunk_size:
                yield page
                page, rows = [], 0
            page.append(participant_id)
            rows += assigned
        yield page
        after = found[-1][:2]


def participant_figures(study: Study, chunk_size: int = CHUNK_SIZE) -> dict[int, ParticipantFigures]:
    """Attention checks, main-trial response times and the exclusion of every participant who answered.

    Reads one narrow row per response, ordered by participant, and keeps one participant's response
    times at a time; the result holds a few numbers per participant.
    """
    rules = rules_for(study)
    task = kind_of(study)
    rows = (
        row
        for page in participant_pages(study, chunk_size)
        for row in Response.objects.filter(assignment__participant_id__in=page)
        .order_by("assignment__participant_id")
        .values_list(
            "assignment__participant_id",
            "assignment__is_attention_check",
            "assignment__trial__kind",
            "correct",
            "rt_ms",
            "score",
            "assignment__participant__status",
        )
    )
    figures: dict[int, ParticipantFigures] = {}
    for participant_id, group in groupby(rows, key=lambda r: r[0]):
        f = ParticipantFigures()
        main = []
        withdrawn = False
        for _, is_check, trial_kind, correct, rt, score, status in group:
            withdrawn = status == ParticipantStatus.WITHDRAWN
            f.responses += 1
            if is_check or trial_kind == TrialKind.ATTENTION:
                f.attention_answered += 1
                f.attention_failed += correct is False
            elif trial_kind == TrialKind.MAIN:
                main.append((correct, score))
                if rt is not None:
                    f.main_rts.append(rt)
        f.reasons = exclusion_reasons(f.attention_failed, f.main_rts, rules) + ([REASON_WITHDRAWN] if withdrawn else [])
        f.bonus = task.bonus(study, main) if task.has_bonus else None
        med = f.median_rt_main
        f.main_rts = [med] if med is not None else []  # keep only what is reported
        figures[participant_id] = f
    return figures


# --- responses -----------------------------------------------------------------------------
def _panels_by_trial(study: Study) -> dict[int, list[tuple]]:
    """trial id -> its panels' (stimulus id, model id, engine version, recipe version), in slot order;
    retired trials included, since answers point to them."""
    out: dict[int, list[tuple]] = {}
    rows = (
        TrialPanel.objects.filter(trial__study=study, stimulus__isnull=False)
        .order_by("trial_id", "slot")
        .values_list(
            "trial_id", "stimulus_id", "stimulus__model_id", "stimulus__engine_version", "stimulus__recipe_version"
        )
    )
    for trial_id, *panel in rows.iterator(chunk_size=CHUNK_SIZE):
        out.setdefault(trial_id, []).append(tuple(panel))
    return out


def response_rows(study: Study, chunk_size: int = CHUNK_SIZE) -> Iterator[dict]:
    """One dict per response, in RESPONSE_COLUMNS, ordered by participant then position."""
    figures = participant_figures(study, chunk_size)
    model_names = dict(ClassifierModel.objects.values_list("id", "name"))
    kind = kind_of(study)
    panels_of = _panels_by_trial(study)
    responses = (
        Response.objects.select_related("assignment__participant", "assignment__trial__image")
        .only(
            "answer",
            "correct",
            "score",
            "confidence",
            "rt_ms",
            "answered_at",
            "assignment",
            "assignment__position",
            "assignment__is_attention_check",
            "assignment__presentation",
            "assignment__option_order",
            "assignment__shown_at",
            "assignment__participant",
            "assignment__trial",
            "assignment__participant__public_id",
            "assignment__participant__condition",
            "assignment__participant__latin_square_row",
            "assignment__participant__is_pilot",
            "assignment__trial__kind",
            "assignment__trial__method",
            "assignment__trial__target_class",
            "assignment__trial__options",
            "assignment__trial__payload",
            "assignment__trial__image",
            "assignment__trial__image__filename",
            "assignment__trial__image__sha256",
        )
        .order_by("assignment__participant__consented_at", "assignment__participant_id", "assignment__position")
    )
    for response in (
        response
        for page in participant_pages(study, chunk_size)
        # `.iterator()` within a page as well: each row's models are freed as soon as it is written
        # (select_related ties them in reference cycles, which a page held whole would age into the
        # collector's oldest generation, to be freed only by a full collection).
        for response in responses.filter(assignment__participant_id__in=page).iterator(chunk_size=chunk_size)
    ):
        a = response.assignment
        p = a.participant
        t = a.trial
        f = figures.get(p.id) or ParticipantFigures()
        panels = panels_of.get(t.id, [])
        engines = sorted({e for _, _, e, _ in panels if e and e != NO_ENGINE})
        row = {
            "study": study.slug,
            "participant": str(p.public_id),
            "condition": condition_label(study, p.condition, p.latin_square_row),
            "is_pilot": p.is_pilot,
            "excluded": f.excluded,
            "exclusion_reason": f.reason or None,
            "position": a.position,
            "trial_kind": TrialKind.ATTENTION if a.is_attention_check else t.kind,
            "image": t.image.filename,
            "image_sha256": t.image.sha256,
            "method": t.method,
            "target_class": t.target_class,
            "correct": response.correct,
            "rt_ms": response.rt_ms,
            "shown_at": _iso(a.shown_at),
            "answered_at": _iso(response.answered_at),
            "stimulus": LIST_SEPARATOR.join(str(sid) for sid, _, _, _ in panels) or None,
            "engine_version": LIST_SEPARATOR.join(engines) or None,
            "recipe_version": LIST_SEPARATOR.join(sorted({r for _, _, _, r in panels})) or None,
            "answer": json.dumps(response.answer or {}, ensure_ascii=False, sort_keys=True),
            "score": response.score,
            "confidence": response.confidence,
        }
        row.update(kind.export_values(study, a, response, [m for _, m, _, _ in panels], model_names))
        yield row


def responses_frame(study: Study):
    """The responses export as a typed DataFrame, straight from the database (for the analysis)."""
    return frame_from_rows(response_rows(study), RESPONSE_COLUMNS)


# --- participants --------------------------------------------------------------------------
def questionnaire_keys(study: Study) -> list[str]:
    keys: set[str] = set()
    for answers in (
        answers
        for page in participant_pages(study)
        for answers in Participant.objects.filter(id__in=page).values_list("questionnaire", flat=True)
    ):
        if isinstance(answers, Mapping):
            keys.update(str(k) for k in answers)
    return sorted(keys)


def participant_columns(study: Study) -> list[str]:
    return PARTICIPANT_COLUMNS + [QUESTIONNAIRE_PREFIX + k for k in questionnaire_keys(study)]


def participant_outcome(participant) -> str:
    """The recorded outcome; participants who completed before outcomes were recorded count as completed."""
    if participant.outcome:
        return participant.outcome
    return Outcome.COMPLETED if participant.status == ParticipantStatus.COMPLETED else ""


def external_id_cell(participant) -> str | None:
    """The id in clear when it can be read, else what is stored (a keyed hash, prefixed as such)."""
    try:
        return readable_external_id(participant) or participant.external_id or None
    except EncryptionUnavailable:
        return participant.external_id or None


def _questionnaire_value(value):
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def participant_rows(
    study: Study, *, include_external_ids: bool = False, chunk_size: int = CHUNK_SIZE
) -> Iterator[dict]:
    """One dict per participant. The external id is only present when explicitly asked for: in clear
    where the study keeps it encrypted (or unhashed), else as its keyed hash."""
    from django.db.models import Count

    figures = participant_figures(study, chunk_size)
    keys = questionnaire_keys(study)
    participants = Participant.objects.annotate(assigned=Count("assignments")).order_by("consented_at", "id")
    for p in (
        p
        for page in participant_pages(study, chunk_size)
        for p in participants.filter(id__in=page).iterator(chunk_size=chunk_size)
    ):
        f = figures.get(p.id) or ParticipantFigures()
        duration = (p.completed_at - p.consented_at).total_seconds() if p.completed_at and p.consented_at else None
        answers = p.questionnaire if isinstance(p.questionnaire, Mapping) else {}
        row = {
            "study": study.slug,
            "participant": str(p.public_id),
            "condition": condition_label(study, p.condition, p.latin_square_row),
            "latin_square_row": p.latin_square_row,
            "status": p.status,
            "is_pilot": p.is_pilot,
            "is_simulated": p.is_simulated,
            "excluded": f.excluded,
            "exclusion_reason": f.reason or None,
            "external_source": p.external_source or None,
            "has_external_id": bool(p.external_id),
            "external_id": external_id_cell(p) if include_external_ids else None,
            "consented_at": None if p.status in NEVER_CONSENTED else _iso(p.consented_at),
            "last_seen_at": _iso(p.last_seen_at),
            "completed_at": _iso(p.completed_at),
            "duration_s": round(duration, 3) if duration is not None else None,
            "assigned_trials": p.assigned,
            "responses": f.responses,
            "attention_checks_answered": f.attention_answered,
            "attention_checks_failed": f.attention_failed,
            "median_rt_ms_main": f.median_rt_main,
            "comment": p.comment or None,
            "bonus": f.bonus,
            "outcome": participant_outcome(p) or None,
            "outcome_code": outcome_code(study, participant_outcome(p)) or None,
            "consent_version": p.consent_version,
            "withdrawn_at": _iso(p.withdrawn_at),
            "language": p.language or None,
        }
        for key in keys:
            row[QUESTIONNAIRE_PREFIX + key] = _questionnaire_value(answers.get(key))
        yield row


# --- stimuli -------------------------------------------------------------------------------
def study_stimulus_ids(study: Study) -> tuple[list[int], dict[int, int]]:
    """The stimuli a study's current trials use, and how many trials use each."""
    uses: dict[int, int] = {}
    for sid in (
        TrialPanel.objects.filter(trial__in=Trial.objects.filter(study=study), stimulus__isnull=False)
        .values_list("stimulus_id", flat=True)
        .iterator(chunk_size=CHUNK_SIZE)
    ):
        uses[sid] = uses.get(sid, 0) + 1
    return sorted(uses), uses


def stimulus_rows(study: Study, chunk_size: int = CHUNK_SIZE) -> Iterator[dict]:
    ids, uses = study_stimulus_ids(study)
    for start in range(0, len(ids), chunk_size):
        batch = ids[start : start + chunk_size]
        queryset = Stimulus.objects.filter(Q(id__in=batch)).select_related("image", "model").order_by("id")
        for s in queryset.iterator(chunk_size=chunk_size):
            yield {
                "study": study.slug,
                "stimulus": s.id,
                "content_key": s.content_key,
                "image": s.image.filename,
                "image_sha256": s.image.sha256,
                "model": s.model.name,
                "model_arch": s.model.arch,
                "method": s.method,
                "target_class": s.target_class,
                "target_index": s.target_index,
                "target_layer": s.target_layer,
                "weights_sha256": s.weights_sha256,
                "engine_version": engine_version(s),
                "recipe_version": s.recipe_version,
                "render_style": s.render_style,
                "score": s.score,
                "png": s.png.name or None,
                "raw_map": s.raw_map.name or None,
                "created_at": _iso(s.created_at),
                "trials": uses.get(s.id, 0),
                "provenance": json.dumps(s.provenance or {}, ensure_ascii=False, sort_keys=True),
            }


# --- CSV -----------------------------------------------------------------------------------
class _Echo:
    def write(self, value):
        return value


def csv_lines(columns: Sequence[str], rows: Iterable[Mapping], *, batch_bytes: int = 64 * 1024) -> Iterator[str]:
    """The header and the rows as CSV text, yielded in pieces of about `batch_bytes`."""
    writer = csv.writer(_Echo(), lineterminator="\n")
    buffer = [writer.writerow(list(columns))]
    size = len(buffer[0])
    for row in rows:
        line = writer.writerow([_cell(row.get(c)) for c in columns])
        buffer.append(line)
        size += len(line)
        if size >= batch_bytes:
            yield "".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer)


def export_responses(study: Study, chunk_size: int = CHUNK_SIZE) -> Iterator[str]:
    return csv_lines(RESPONSE_COLUMNS, response_rows(study, chunk_size))


def export_participants(study: Study, *, include_external_ids: bool = False) -> Iterator[str]:
    return csv_lines(participant_columns(study), participant_rows(study, include_external_ids=include_external_ids))


def export_stimuli(study: Study) -> Iterator[str]:
    return csv_lines(STIMULUS_COLUMNS, stimulus_rows(study))


def counted(rows: Iterable[Mapping], progress=None, every: int = 10_000) -> Iterator[Mapping]:
    """Pass rows through, calling `progress(n)` every `every` rows and once at the end."""
    n = 0
    for n, row in enumerate(rows, start=1):  # noqa: B007
        if progress and n % every == 0:
            progress(n)
        yield row
    if progress:
        progress(n)


def write_csv(columns: Sequence[str], rows: Iterable[Mapping], out, progress=None) -> None:
    """Write an export to an open text file (newline=""), reporting progress as rows go."""
    for chunk in csv_lines(columns, counted(rows, progress)):
        out.write(chunk)
