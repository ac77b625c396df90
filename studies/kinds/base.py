"""What a task kind is: everything that differs between two protocols, behind one interface.

The shared code (generation, the participant flow, exports, analysis, bots, the demo) asks the
study's kind and never names one. A kind is one module in this package plus one template
(`templates/participant/kinds/<name>.html`), registered with `@register`; see
`studies/kinds/hive_agreement.py` for the smallest complete example.

Nothing here imports torch, pandas or the statistics stack at module level: the web processes load
every kind, and only the analysis pays for pandas.
"""

from __future__ import annotations

import json
import random
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from .. import design
from ..i18n import class_name

if TYPE_CHECKING:  # pragma: no cover
    from ..models import Assignment, Study, Trial


# An attention check's instruction is stored in English when the bank is generated; the page shows it
# in the participant's language, its quoted answer (an option label or a class name) too.
INSTRUCTED_ANSWER = gettext_noop("To show that you are reading carefully, please answer “%(answer)s”.")
INSTRUCTED_PANEL = gettext_noop(
    "To show that you are reading carefully, please choose panel %(panel)s for both questions."
)
_INSTRUCTED_ANSWER = re.compile("^" + re.escape(INSTRUCTED_ANSWER).replace(re.escape("%(answer)s"), "(.+)") + "$")
_INSTRUCTED_PANEL = re.compile("^" + re.escape(INSTRUCTED_PANEL).replace(re.escape("%(panel)s"), "(.+)") + "$")
_OBJECT_ITSELF = re.compile("^The (.+) itself$")


def translated(pairs) -> list:
    """(value, label) pairs with their labels in the page's language."""
    return [(value, _(label)) for value, label in pairs]


def shown_instruction(text: str) -> str:
    """A stored instruction in the language of the page (as stored where it is not a known one)."""
    if match := _INSTRUCTED_PANEL.match(text):
        return _(INSTRUCTED_PANEL) % {"panel": match[1]}
    if match := _INSTRUCTED_ANSWER.match(text):
        answer = match[1]
        if itself := _OBJECT_ITSELF.match(answer):  # bias detection's "The {target} itself"
            answer = _("The {target} itself").format(target=class_name(itself[1]))
        else:
            answer = class_name(_(answer))
        return _(INSTRUCTED_ANSWER) % {"answer": answer}
    return text


class AnswerError(Exception):
    """An answer that does not fit the kind's schema: shown to the participant, nothing is written."""


@dataclass(frozen=True)
class Setting:
    """A kind's own configuration field, stored in `Study.kind_settings` under its name.

    `type` is bool, int or float (a number, between `minimum` and `maximum`), str (a line of text),
    or list or dict (JSON: a declaration such as a list of cues); `check`, given, validates the
    cleaned value and raises ValueError with the reason."""

    name: str
    label: str
    type: type  # bool, int, float, str (free text, or one of `choices`), list or dict
    default: Any
    help_text: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: Sequence[tuple[str, str]] = ()  # (value, label) of a str setting, the default among them
    check: Callable[[Any], None] | None = None

    def clean(self, value):
        if value in (None, ""):
            return self.default
        value = self._typed(value)
        if self.check is not None:
            self.check(value)
        return value

    def _typed(self, value):
        if self.choices:
            allowed = [v for v, _ in self.choices]
            if str(value) not in allowed:
                raise ValueError(f"{self.label}: {value!r} is not one of {', '.join(allowed)}")
            return str(value)
        if self.type is bool:
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        if self.type is str:
            return str(value).strip()
        if self.type in (list, dict):
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError as exc:
                    raise ValueError(f"{self.label}: not valid JSON ({exc})") from None
            if not isinstance(value, self.type):
                raise ValueError(f"{self.label} must be a JSON {'list' if self.type is list else 'object'}")
            return value
        try:
            number = self.type(value)
        except (TypeError, ValueError):
            raise ValueError(f"{self.label}: {value!r} is not a number") from None
        if (self.minimum is not None and number < self.minimum) or (self.maximum is not None and number > self.maximum):
            raise ValueError(f"{self.label} must be between {self.minimum} and {self.maximum}")
        return number


@dataclass(frozen=True)
class PanelSpec:
    """One stimulus a trial shows: which network explains which class with which method."""

    model: Any  # ClassifierModel
    method: str
    target_class: str
    image: Any = None  # ImageItem; None: the trial's image (kinds whose panels show several images set it)


@dataclass(frozen=True)
class Scored:
    """A validated answer: what the participant gave (`answer`, stored as JSON) and its scoring,
    stored in typed columns that SQL and the statistics read."""

    answer: Mapping
    correct: bool | None = None
    score: float | None = None
    confidence: int | None = None


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    key: str = ""  # the keyboard key that picks it


@dataclass(frozen=True)
class Question:
    """One question of a trial page: `[data-testid=question][data-name=<name>]` with its options."""

    name: str
    text: str
    options: Sequence[Option]
    kind: str = "choice"  # choice | scale (drawn as a row of labelled buttons)
    alias: str = ""  # an older data-testid the options also answer to (the paper kinds' choice, rating)


@dataclass
class KindContext:
    """Facts about a study that the bank needs and only the database knows (filled by generation)."""

    eligible: list = field(default_factory=list)  # ImageItem rows that qualify
    visible: dict = field(default_factory=dict)  # image id -> labels whose object the display shows
    predictions: dict = field(default_factory=dict)  # (model id, image id) -> top labels, best first
    measured: dict = field(default_factory=dict)  # image id -> what the kind's `measure` computed


class TaskKind(ABC):
    """The base of every kind. Subclasses set the names and override what differs."""

    name = ""
    label = ""
    description = ""
    # The result of a main trial is correct-or-not (accuracy, mixed-effects logistic model).
    binary_outcome = True
    # Stimulus style when the study says "auto": masked hides the photograph outside the map.
    default_style = "overlay"
    # The roles of the study's network fields this kind uses, with what they are for.
    model_fields: Mapping[str, str] = {"model": "the network explained"}
    # The roles of `model_fields` a study may leave empty.
    optional_model_fields: Sequence[str] = ()
    settings: Sequence[Setting] = ()
    needs_predictions = False
    # A responses-export column only this kind fills: how an export read without its study is told apart.
    signature_column = ""
    # The responses-export columns only this kind fills, with their types (str, int, float, bool, or
    # list: joined by `|`), in order; the export appends every kind's after the common ones.
    export_columns: Mapping[str, type] = {}
    has_bonus = False
    # Whether a study of this kind may add the no-explanation control arm (Study.control_arm): only a
    # kind whose page still asks something answerable without a map (e.g. from the prediction) does.
    supports_control_arm = False
    # A trial with one question answers on the click; with several, the submit button sends them.
    template = ""

    # --- configuration -------------------------------------------------------------------------
    def template_name(self) -> str:
        return self.template or f"participant/kinds/{self.name}.html"

    def models(self, study: Study) -> list:
        """The study's networks this kind uses, in the order of `model_fields`."""
        return [m for m in (getattr(study, f) for f in self.model_fields) if m is not None]

    def settings_of(self, study: Study) -> dict:
        """The study's kind settings, every one present (defaults for those not set)."""
        stored = study.kind_settings if isinstance(getattr(study, "kind_settings", None), Mapping) else {}
        return {s.name: s.clean(stored.get(s.name)) for s in self.settings}

    def config_errors(self, study: Study) -> list[str]:
        errors = []
        if getattr(study, "control_arm", False) and not self.supports_control_arm:
            errors.append(
                f"{self.label} has no no-explanation control arm: its question cannot be answered without a map"
            )
        for role, what in self.model_fields.items():
            if getattr(study, f"{role}_id", None) is None and role not in self.optional_model_fields:
                errors.append(f"{self.label} needs {what}")
        ids = [getattr(study, f"{role}_id", None) for role in self.model_fields]
        ids = [i for i in ids if i is not None]
        if len(ids) != len(set(ids)):
            errors.append("the networks of this study must differ")
        stored = study.kind_settings if isinstance(getattr(study, "kind_settings", None), Mapping) else {}
        unknown = sorted(set(stored) - {s.name for s in self.settings})
        if unknown:
            errors.append(f"{self.label} has no setting {', '.join(unknown)}")
        for s in self.settings:
            try:
                s.clean(stored.get(s.name))
            except ValueError as exc:
                errors.append(str(exc))
        return errors

    def stale_fields(self) -> tuple[str, ...]:
        """Study fields besides the common ones whose change makes the trial bank stale."""
        return tuple(self.model_fields) + ("kind_settings",)

    # --- images and the trial bank -------------------------------------------------------------
    @abstractmethod
    def eligibility(self, study: Study):
        """The images that qualify (studies.stimuli.eligibility.Eligibility), or None when the
        configuration does not say yet."""

    def eligibility_text(self, study: Study, eligible: int) -> str:
        return f"{eligible} images qualify for {self.label.lower()}."

    def qualify_message(self, eligible: int) -> str:
        """The admin's note after a save: how many images qualify."""
        return f"{eligible} images qualify for {self.label.lower()}."

    def no_image_error(self) -> str:
        return f"no image of this set qualifies for {self.label.lower()}"

    def measure(self, study: Study, context: KindContext, get_bundle) -> list[str]:
        """Facts that only the networks can give and the bank needs (the ground truth of a
        counterfactual question, a check of what the researcher declared): computed on the GPU worker
        when generation plans the bank, after the predictions, and put in `context.measured` under
        the kind's own keys. `get_bundle(model)` loads a network. Returns warnings, shown with the
        generation job. By default none."""
        return []

    @abstractmethod
    def build_bank(self, study: Study, context: KindContext) -> list:
        """The seeded trial bank (a list of studies.design.BankEntry): a pure function of the study's
        configuration and `context`."""

    def surviving_count(self, study: Study, context: KindContext, bank: Sequence) -> int | None:
        """Images left after the kind's prediction rules (None: the kind has none)."""
        return None

    def shortfall_reason(self) -> str:
        return " qualify"

    def panels(self, study: Study, trial: Trial) -> list[PanelSpec]:
        """The stimuli a trial shows, in the bank's order (the participant may see another order)."""
        model = self.models(study)[0]
        return [PanelSpec(model, trial.method, trial.target_class)]

    def participant_plan(
        self, study: Study, bank: Sequence, *, arms: Sequence[str], participant_seed: int, condition, latin_row
    ) -> list:
        """One participant's trials in order (studies.design.PlannedTrial): by default
        studies.design.participant_plan over the study's arms; a kind whose trials come in
        structured blocks (learning then test) builds its own, from the same seeded inputs."""
        return design.participant_plan(
            bank,
            present=self.present,
            design=study.design,
            methods=arms,
            trials_per_participant=study.trials_per_participant,
            attention_checks=study.attention_checks_per_participant,
            participant_seed=participant_seed,
            condition=condition,
            latin_row=latin_row,
        )

    # --- what a participant sees ---------------------------------------------------------------
    def present(self, entry, rng: random.Random) -> tuple[tuple[str, ...], dict]:
        """The participant's presentation of a bank entry: the option order and anything else
        (stored in Assignment.presentation). Draws from the participant's seeded `rng`."""
        options = list(entry.options)
        rng.shuffle(options)
        return tuple(options), {}

    @abstractmethod
    def questions(self, assignment: Assignment, panels: Sequence) -> list[Question]:
        """The trial's questions, each with its options and keys, in page order."""

    def displayed_panels(self, assignment: Assignment, panels: Sequence) -> list:
        """The panels (TrialPanel rows, stimulus loaded) in the order the participant sees them."""
        return list(panels)

    def trial_context(self, study: Study, assignment: Assignment, panels: Sequence) -> dict:
        """What the kind's template needs beyond the shared page (panels, questions): by default an
        attention check's instruction, shown above the questions."""
        trial = assignment.trial
        instruction = (trial.payload or {}).get("instruction", "") if trial.kind == "attention" else ""
        return {"instruction": shown_instruction(instruction)}

    def instructions_context(self, study: Study) -> dict:
        return {}

    # --- answers -------------------------------------------------------------------------------
    @abstractmethod
    def parse_answer(self, assignment: Assignment, data: Mapping) -> Scored:
        """Validate the posted answer against the trial; raise AnswerError (nothing is written)."""

    @staticmethod
    def pick(data: Mapping, question: Question) -> str:
        """The posted value of one question, which must be one of its options."""
        value = str(data.get(question.name) or "").strip()
        if not value:
            raise AnswerError(_("Please answer: %(question)s") % {"question": question.text})
        if value not in {o.value for o in question.options}:
            raise AnswerError(
                _("That answer to “%(question)s” is not one of its options.") % {"question": question.text}
            )
        return value

    # --- export --------------------------------------------------------------------------------
    def export_values(
        self, study: Study, assignment: Assignment, response, panel_models: Sequence, names: Mapping
    ) -> dict:
        """The responses export's kind-specific cells (model, options, choice, rating, ...) of one
        response; `panel_models` are the model ids of the trial's panels in bank order, `names` maps
        model id -> name. Columns not returned are empty."""
        return {}

    def bonus(self, study: Study, main: Sequence[tuple]) -> float | None:
        """A participant's performance bonus from their main trials' (correct, score) (None: no bonus)."""
        return None

    # --- analysis ------------------------------------------------------------------------------
    def analyze(self, main, methods: Sequence[str], design: str, seed: int, n_resamples: int) -> tuple[dict, list]:
        """(per-method summary, pairwise comparisons) over the analysis frame's included main trials.
        The default: accuracy of a binary outcome (studies.results.analysis)."""
        from ..results import analysis

        summary = analysis.class_discrimination_methods(main, methods, seed=seed, n_resamples=n_resamples)
        return summary, analysis.class_discrimination_comparisons(main, methods, design, summary)

    def human_measure(self) -> str:
        """The key of the analysis's per-method summary that metrics are compared with."""
        return "accuracy"

    def plot_names(self) -> list[str]:
        return ["accuracy", "rt"]

    # --- simulated participants ----------------------------------------------------------------
    def oracle_answer_on_page(
        self, oracle, stimuli: Sequence, questions: Mapping, instruction: str, regions: Mapping
    ) -> dict | None:
        """`oracle_answer` for a page that also marks regions over its stimulus
        (`[data-testid=region]`, `data-name` -> `data-box`: x0,y0,x1,y1 as fractions of the stimulus)."""
        return self.oracle_answer(oracle, stimuli, questions, instruction)

    @abstractmethod
    def oracle_answer(self, oracle, stimuli: Sequence, questions: Mapping, instruction: str) -> dict | None:
        """The answer (question name -> option value) of a participant who sees perfectly, from the
        ground-truth boxes and the stored predictions. `stimuli` are the page's panels in the order
        shown (Stimulus rows, None where unknown), `questions` maps each question's name to its
        option values as shown, `instruction` is an attention check's text. None: no opinion (the bot
        answers at random). `oracle.memory` is a dict that lasts for the simulated participant's
        session (what a learning block taught it)."""
