"""Task kinds: one module per protocol, registered here by name.

`kind_of(study)` gives the study's kind; the shared code (generation, the participant flow,
exports, analysis, bots, the demo) calls its methods and never names a kind. To add one, write a
module beside these (start from `hive_agreement.py`, the smallest), import it at the bottom of this
file, and add its template `templates/participant/kinds/<name>.html`.
"""

from __future__ import annotations

from .base import AnswerError, KindContext, Option, PanelSpec, Question, Scored, Setting, TaskKind

KINDS: dict[str, TaskKind] = {}
# A study's kind until the researcher chooses one, and the kind of an export that cannot be told.
DEFAULT_KIND = "class_discrimination"


def register(cls: type[TaskKind]) -> type[TaskKind]:
    if not cls.name or cls.name in KINDS:
        raise ValueError(f"a task kind needs a unique name (got {cls.name!r})")
    KINDS[cls.name] = cls()
    return cls


class UnknownKind(LookupError):
    pass


def kind_of(study_or_name) -> TaskKind:
    name = study_or_name if isinstance(study_or_name, str) else study_or_name.kind
    try:
        return KINDS[name]
    except KeyError:
        raise UnknownKind(f"unknown task kind {name!r} (known: {', '.join(KINDS)})") from None


def kind_columns() -> dict[str, type]:
    """Every kind's own responses-export columns with their types, in the registry's order."""
    columns: dict[str, type] = {}
    for kind in KINDS.values():
        for name, kind_type in kind.export_columns.items():
            columns.setdefault(name, kind_type)
    return columns


def kind_choices() -> list[tuple[str, str]]:
    return [(k.name, k.label) for k in KINDS.values()]


__all__ = [
    "DEFAULT_KIND",
    "KINDS",
    "AnswerError",
    "KindContext",
    "Option",
    "PanelSpec",
    "Question",
    "Scored",
    "Setting",
    "TaskKind",
    "UnknownKind",
    "kind_choices",
    "kind_columns",
    "kind_of",
    "register",
]

# The kinds, in the order the admin offers them.
from . import (  # noqa: E402,F401,I001
    class_discrimination,
    trust,
    hive_distinction,
    hive_agreement,
    forward_simulation,
    occlusion_2afc,
    bias_detection,
)
