"""Acting on Prolific submissions: the bulk bonus list, and the outcome of each row of Prolific's
submissions CSV (for researchers who keep ids only as a keyed hash and so cannot export them).

Both read the participants' outcomes and bonuses as the participants export computes them
(studies/results/export.py), so the three never disagree.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from ..models import Outcome, Participant, Study
from ..participants.privacy import EncryptionUnavailable, external_id_for_storage, readable_external_id
from ..participants.recruitment import outcome_code
from .export import csv_lines, participant_figures, participant_outcome

PROLIFIC = "prolific"
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
MAX_ID_LENGTH = 255
LOOKUP_CHUNK = 1000


# --- bonuses --------------------------------------------------------------------------------------
@dataclass
class BonusList:
    """Prolific's bulk bonus lines (`participant_id,amount`), and who is owed one but cannot be listed."""

    lines: list[str]
    unreadable: int  # owed a bonus, but the study keeps their id only as a hash

    @property
    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)


def prolific_bonuses(study: Study) -> BonusList:
    """One `participant_id,amount` line per Prolific participant who completed with a bonus above zero,
    amounts in the study's currency to the cent (what Prolific's bulk bonus form and API take, no
    header). Simulated and pilot participants are left out; so are failed checks, screened out and
    timed out participations (not completed)."""
    figures = participant_figures(study)
    lines, unreadable = [], 0
    participants = Participant.objects.filter(
        study=study, external_source=PROLIFIC, is_pilot=False, is_simulated=False
    ).order_by("consented_at", "id")
    for participant in participants.iterator(chunk_size=500):
        f = figures.get(participant.id)
        bonus = f.bonus if f is not None else None
        if participant_outcome(participant) != Outcome.COMPLETED or not bonus or round(bonus, 2) <= 0:
            continue
        try:
            pid = readable_external_id(participant)
        except EncryptionUnavailable:
            pid = None
        if not pid:
            unreadable += 1
            continue
        lines.append(f"{pid},{bonus:.2f}")
    return BonusList(lines, unreadable)


# --- Prolific's submissions CSV -------------------------------------------------------------------
SUBMISSION_COLUMNS = [
    "participant_id",
    "submission_id",
    "prolific_status",
    "submitted_code",
    "found",
    "outcome",
    "expected_code",
    "code_matches",
    "bonus",
    "participant",
]
# Prolific's export names its columns "Participant id", "Submission id", "Status", "Completion code";
# older exports and hand-made files spell them differently.
HEADER_ALIASES = {
    "participant_id": ("participant id", "participant_id", "prolific_pid", "participant"),
    "submission_id": ("submission id", "submission_id", "session_id"),
    "prolific_status": ("status",),
    "submitted_code": ("completion code", "completion_code", "entered code"),
}


class SubmissionsError(ValueError):
    """An upload that is not a readable Prolific submissions CSV; the message says why and where."""


def _column_positions(header: list[str]) -> dict[str, int]:
    names = [h.strip().lstrip("\ufeff").strip().lower() for h in header]
    positions = {}
    for column, aliases in HEADER_ALIASES.items():
        for alias in aliases:
            if alias in names:
                positions[column] = names.index(alias)
                break
    if "participant_id" not in positions:
        raise SubmissionsError(
            "The file has no participant id column: upload the CSV that Prolific exports from the study's "
            "submissions (its first line names the columns, one of them “Participant id”)."
        )
    return positions


def read_submissions(data: bytes) -> list[dict]:
    """The rows of an uploaded submissions CSV, checked; SubmissionsError names the first problem."""
    if not data:
        raise SubmissionsError("The file is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise SubmissionsError(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SubmissionsError("The file is not UTF-8 text: upload the CSV as Prolific exports it.") from None
    if "\x00" in text:
        raise SubmissionsError("The file holds NUL characters: it is not a CSV.")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise SubmissionsError(f"The file is not a readable CSV: {exc}.") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise SubmissionsError("The file is empty.")
    positions = _column_positions(rows[0])
    if len(rows) - 1 > MAX_ROWS:
        raise SubmissionsError(f"The file has more than {MAX_ROWS} rows.")
    out = []
    for line, row in enumerate(rows[1:], start=2):
        values = {c: (row[i].strip() if i < len(row) else "") for c, i in positions.items()}
        pid = values["participant_id"]
        if not pid or len(pid) > MAX_ID_LENGTH or any(ord(ch) < 32 for ch in pid):
            raise SubmissionsError(f"Line {line}: the participant id is missing or malformed.")
        out.append(values)
    return out


def submission_outcomes(study: Study, data: bytes) -> list[dict]:
    """Each uploaded row with the outcome the platform recorded for its participant, the code that
    outcome gives, whether the code submitted on Prolific matches it, and the bonus."""
    rows = read_submissions(data)
    figures = participant_figures(study)
    stored = {external_id_for_storage(PROLIFIC, r["participant_id"]): r for r in rows}
    found: dict[str, Participant] = {}
    keys = list(stored)
    for start in range(0, len(keys), LOOKUP_CHUNK):
        for participant in Participant.objects.filter(
            study=study, external_source=PROLIFIC, external_id__in=keys[start : start + LOOKUP_CHUNK]
        ):
            found[participant.external_id] = participant
    out = []
    for row in rows:
        participant = found.get(external_id_for_storage(PROLIFIC, row["participant_id"]))
        result = {**row, "found": participant is not None}
        if participant is not None:
            outcome = participant_outcome(participant)
            expected = outcome_code(study, outcome)
            f = figures.get(participant.id)
            submitted = row.get("submitted_code", "")
            result.update(
                outcome=outcome or "under way",
                expected_code=expected or None,
                code_matches=(submitted == expected) if submitted and expected else None,
                bonus=f.bonus if f is not None and outcome == Outcome.COMPLETED else None,
                participant=str(participant.public_id),
            )
        else:
            # Never reached the study (a decline is recorded, with its outcome, since decliners were).
            expected, submitted = study.no_consent_code, row.get("submitted_code", "")
            result.update(
                outcome="not recorded",
                expected_code=expected or None,
                code_matches=(submitted == expected) if submitted and expected else None,
            )
        out.append(result)
    return out


def submission_outcome_lines(study: Study, data: bytes) -> Iterator[str]:
    """`submission_outcomes` as CSV text (the rows are read and checked before the first line)."""
    return csv_lines(SUBMISSION_COLUMNS, submission_outcomes(study, data))
