"""Published protocols as starting points: a preset fills a new study's form with the kind, its
settings and the study fields a paper used (arms, design, trials), all editable before launch.

Each kind module registers the presets of the protocols it reproduces with `register_preset`, after
its `@register` (the preset names its kind, whose settings it is checked against). The admin's study
form offers them as "Start from a published protocol" (studies/admin.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# The Study fields a preset may set (the rest stay at the form's defaults).
STUDY_FIELDS = frozenset(
    {
        "methods",
        "control_arm",
        "design",
        "trials_per_participant",
        "target_participants_per_condition",
        "attention_checks_per_participant",
        "max_failed_attention_checks",
        "render_style",
        "max_images",
        "instructions_text",
    }
)


@dataclass(frozen=True)
class Preset:
    name: str  # its key (the admin's ?preset=<name>)
    label: str  # what the researcher reads, e.g. "Meta-predictor (Colin et al. 2022)"
    citation: str
    kind: str
    kind_settings: Mapping = field(default_factory=dict)
    study: Mapping = field(default_factory=dict)  # Study field -> value (STUDY_FIELDS)
    note: str = ""  # what the preset leaves to the researcher (networks, images)

    def form_initial(self) -> dict:
        """The study form's initial values: the study fields, the kind, and its settings under the
        form's "<kind>__<setting>" names."""
        initial = {"kind": self.kind, **self.study}
        initial.update({f"{self.kind}__{name}": value for name, value in self.kind_settings.items()})
        return initial


PRESETS: dict[str, Preset] = {}


class UnknownPreset(LookupError):
    pass


def register_preset(preset: Preset) -> Preset:
    """Add a published protocol; refused (ValueError) if its name is taken, its kind unknown, or it sets
    a study field or kind setting that does not exist or a value the setting refuses."""
    from . import KINDS

    if not preset.name or preset.name in PRESETS:
        raise ValueError(f"a preset needs a unique name (got {preset.name!r})")
    kind = KINDS.get(preset.kind)
    if kind is None:
        raise ValueError(f"preset {preset.name!r}: unknown task kind {preset.kind!r}")
    unknown = sorted(set(preset.study) - STUDY_FIELDS)
    if unknown:
        raise ValueError(f"preset {preset.name!r} sets study fields a preset may not: {', '.join(unknown)}")
    settings = {s.name: s for s in kind.settings}
    for name, value in preset.kind_settings.items():
        if name not in settings:
            raise ValueError(f"preset {preset.name!r}: {kind.label} has no setting {name!r}")
        settings[name].clean(value)  # raises ValueError for a value out of range
    if preset.study.get("control_arm") and not kind.supports_control_arm:
        raise ValueError(f"preset {preset.name!r}: {kind.label} has no control arm")
    frozen = Preset(
        preset.name,
        preset.label,
        preset.citation,
        preset.kind,
        MappingProxyType(dict(preset.kind_settings)),
        MappingProxyType(dict(preset.study)),
        preset.note,
    )
    PRESETS[preset.name] = frozen
    return frozen


def preset_named(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise UnknownPreset(f"no published protocol {name!r} (known: {', '.join(PRESETS) or 'none'})") from None


def presets_in_order() -> list[Preset]:
    """Every preset, in the order the kinds registered them."""
    return list(PRESETS.values())
