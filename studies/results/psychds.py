"""A study's data as a Psych-DS dataset (https://psych-ds.github.io/): a folder that describes itself.

    DIR/
      dataset_description.json   schema.org Dataset (JSON-LD): name, description, variableMeasured
      README.md                  what the files are, for a person
      data/study-<slug>_description-responses_data.csv
      data/study-<slug>_description-participants_data.csv
      data/study-<slug>_description-stimuli_data.csv

The data files are the three CSV exports exactly as `export_results` writes them, streamed, with
the participants' external ids never included (this is data for sharing). Each column of each file
is described in `variableMeasured` from docs/codebook.md (`export.codebook_variables`), so the
dataset's description and the codebook cannot drift apart. File names follow Psych-DS's keyword
convention: `key-value` pairs joined by `_`, values letters and digits only, ending in `_data.csv`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from django.utils import timezone

from ..models import Study
from . import export

PSYCHDS_VERSION = "Psych-DS 1.5.0"
DATA_DIR = "data"
QUESTIONNAIRE_VARIABLE = export.QUESTIONNAIRE_PREFIX + "*"


class PsychDSRefused(Exception):
    """The dataset cannot be written where asked; the message says why."""


def keyword_value(text: str) -> str:
    """A Psych-DS keyword value (letters and digits only) from a slug: `demo-trust` -> `demoTrust`."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", text) if w]
    if not words:
        raise PsychDSRefused(f"{text!r} has no letter or digit to name a data file with")
    return words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:])


def data_file_name(study: Study, what: str) -> str:
    return f"study-{keyword_value(study.slug)}_description-{keyword_value(what)}_data.csv"


def data_files(study: Study) -> list[tuple[str, str, list[str], Callable]]:
    """(what, codebook section, columns, rows) of each data file, in the order they are described."""
    return [
        ("responses", export.RESPONSES_SECTION, export.RESPONSE_COLUMNS, lambda: export.response_rows(study)),
        (
            "participants",
            export.PARTICIPANTS_SECTION,
            export.participant_columns(study),
            lambda: export.participant_rows(study, include_external_ids=False),
        ),
        ("stimuli", export.STIMULI_SECTION, export.STIMULUS_COLUMNS, lambda: export.stimulus_rows(study)),
    ]


def variables_measured(files) -> list[dict]:
    """One schema.org PropertyValue per distinct column of the data files, described by the codebook.

    A column that several files share (study, participant, image, ...) is one variable; where the
    codebook describes it differently per file, every description is kept, named by its file.
    """
    described: dict[str, list[tuple[str, export.Variable]]] = {}
    for what, section, columns, _ in files:
        documented = {v.name: v for v in export.codebook_variables(section)}
        for column in columns:
            variable = documented.get(column)
            if variable is None and column.startswith(export.QUESTIONNAIRE_PREFIX):
                generic = documented[QUESTIONNAIRE_VARIABLE]
                key = column[len(export.QUESTIONNAIRE_PREFIX) :]
                variable = export.Variable(column, generic.type, f"Questionnaire answer {key!r}. {generic.description}")
            if variable is None:
                raise KeyError(f"column {column!r} of the {what} export is not in the codebook")
            entries = described.setdefault(column, [])
            if all(v.description != variable.description for _, v in entries):
                entries.append((what, variable))
    out = []
    for name, entries in described.items():
        if len(entries) == 1:
            description = entries[0][1].description
        else:
            description = " ".join(f"In the {what} file: {v.description}" for what, v in entries)
        variable = {"@type": "PropertyValue", "name": name, "description": description}
        if name.endswith("_ms"):
            variable["unitText"] = "milliseconds"
        out.append(variable)
    return out


def dataset_description(study: Study, files) -> dict:
    kind = study.get_kind_display()
    return {
        "@context": "https://schema.org/",
        "@type": "Dataset",
        "name": study.name,
        "description": (
            f"Answers of the participants of the {kind.lower()} study {study.slug!r} "
            f"({study.get_design_display().lower()}; arms: {', '.join(study.arms)}), one row per answer, "
            "with the participants (pseudonymous ids, no recruitment ids) and the provenance of every stimulus. "
            "Empty cells: the value does not apply or is unknown. Booleans are true/false, timestamps ISO 8601 "
            "in UTC, lists inside a cell joined by |; a text cell starting with = + - @ carries a leading '."
        ),
        "schemaVersion": PSYCHDS_VERSION,
        "keywords": ["explainable AI", "visual explanations", study.kind, *study.arms],
        "dateCreated": timezone.now().isoformat(),
        "variableMeasured": variables_measured(files),
    }


def readme_text(study: Study, names: list[str]) -> str:
    lines = [
        f"# {study.name}",
        "",
        f"Psych-DS dataset of the study `{study.slug}` ({study.get_kind_display()}).",
        "Every column is described in `dataset_description.json` (`variableMeasured`).",
        "",
        "Data files:",
        "",
        *(f"- `{DATA_DIR}/{name}`" for name in names),
        "",
    ]
    return "\n".join(lines)


def do_write_psychds(study: Study, directory, progress: Callable[[str, int], None] | None = None) -> list[Path]:
    """Write the dataset into `directory` (created if missing; refused if it holds anything). Returns the files."""
    root = Path(directory)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise PsychDSRefused(f"{root} exists and is not an empty folder; give a new or empty one")
    files = data_files(study)
    try:
        (root / DATA_DIR).mkdir(parents=True, exist_ok=True)
        written = []
        for what, _, columns, rows in files:
            path = root / DATA_DIR / data_file_name(study, what)
            with open(path, "w", newline="", encoding="utf-8") as handle:
                export.write_csv(columns, rows(), handle, (lambda n, w=what: progress(w, n)) if progress else None)
            written.append(path)
        description = root / "dataset_description.json"
        description.write_text(
            json.dumps(dataset_description(study, files), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        readme = root / "README.md"
        readme.write_text(readme_text(study, [p.name for p in written]), encoding="utf-8")
    except OSError as exc:
        raise PsychDSRefused(f"cannot write {root}: {exc.strerror}") from exc
    return [description, readme, *written]
