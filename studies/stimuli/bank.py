"""A study's trial bank in the database: built by its kind, synchronized with the Trial rows
(a trial someone was assigned is retired, never rewritten), linked to the stimuli that exist."""

from __future__ import annotations

from collections import OrderedDict

from django.utils import timezone

from .. import design
from ..kinds import KindContext, kind_of
from ..models import Assignment, Stimulus, Study, Trial, TrialPanel
from .content_keys import Unit, trial_units
from .eligibility import Eligibility


def build_bank(study: Study, context: KindContext | None = None) -> list[design.BankEntry]:
    """The study's trial bank, by its kind; `context` carries the eligible images and predictions
    (without it, the eligible images alone: enough for kinds that need no predictions)."""
    kind = kind_of(study)
    if context is None:
        if kind.needs_predictions:
            raise ValueError(f"a {kind.label} bank needs the networks' predictions")
        found = kind.eligibility(study) or Eligibility([])
        context = KindContext(found.images, found.visible)
    return kind.build_bank(study, context)


def sync_trials(study: Study, bank: list[design.BankEntry]) -> int:
    """Make the study's current trials equal the bank (by index). Returns the number changed.

    A trial that a participant was assigned is immutable: when the bank changes its entry, or the
    stimulus it would show, it is retired and a new trial takes its index, so that recorded answers
    keep pointing at what was shown. Trials nobody was assigned are updated or deleted in place.
    """
    existing = {t.index: t for t in study.trials.select_related("image").prefetch_related("panels__stimulus")}
    held = set(
        Assignment.objects.filter(trial__in=list(existing.values())).values_list("trial_id", flat=True).distinct()
    )
    redrawn = _held_trials_shown_differently(study, [t for t in existing.values() if t.pk in held])
    retire, create, changed = [], [], 0
    for entry in bank:
        values = {
            "kind": entry.kind,
            "image_id": entry.image_id,
            "method": entry.method,
            "target_class": entry.target_class,
            "options": list(entry.options),
            "payload": dict(entry.payload),
        }
        trial = existing.pop(entry.index, None)
        same = trial is not None and all(getattr(trial, k) == v for k, v in values.items())
        if same and trial.pk not in redrawn:
            continue
        changed += 1
        if trial is not None and trial.pk not in held:
            for k, v in values.items():
                setattr(trial, k, v)
            trial.save()
            trial.panels.all().delete()  # linked again to the stimuli of the new entry
            continue
        if trial is not None:
            retire.append(trial.pk)
        create.append(Trial(study=study, index=entry.index, **values))
    for trial in existing.values():  # indices the new bank no longer has
        changed += 1
        if trial.pk in held:
            retire.append(trial.pk)
        else:
            trial.delete()
    # Retire first: the new trials take the retired ones' indices.
    Trial.objects.filter(pk__in=retire).update(retired_at=timezone.now())
    Trial.objects.bulk_create(create)
    return changed


def _held_trials_shown_differently(study: Study, trials) -> set[int]:
    """Trials whose linked stimulus differs from the one the current configuration makes."""
    if not trials:
        return set()
    redrawn = set()
    for trial, slot, unit in trial_units(study, trials):
        linked = {p.slot: p.stimulus for p in trial.panels.all()}.get(slot)
        if linked is not None and linked.content_key != unit.key:
            redrawn.add(trial.pk)
    return redrawn


def link_trials(study: Study) -> tuple[int, list[Unit]]:
    """Point every trial's panels at their existing stimuli (a panel row per slot, empty while its
    stimulus is missing). Returns (number of distinct units, missing units)."""
    slots = trial_units(study)
    keys = {u.key for _, _, u in slots}
    found = dict(Stimulus.objects.filter(content_key__in=keys).values_list("content_key", "pk"))
    held = set(Assignment.objects.filter(trial__study=study).values_list("trial_id", flat=True).distinct())
    current = {
        (trial_id, slot): (pk, stimulus_id)
        for pk, trial_id, slot, stimulus_id in TrialPanel.objects.filter(trial__study=study).values_list(
            "pk", "trial_id", "slot", "stimulus_id"
        )
    }
    create, update = [], []
    for trial, slot, unit in slots:
        pk = found.get(unit.key)
        row = current.get((trial.pk, slot))
        if row is None:
            create.append(TrialPanel(trial=trial, slot=slot, stimulus_id=pk))
        elif row[1] != pk and not (row[1] is not None and trial.pk in held):
            # what a participant was shown never changes (sync_trials retires such trials)
            update.append(TrialPanel(pk=row[0], trial=trial, slot=slot, stimulus_id=pk))
    TrialPanel.objects.bulk_create(create, ignore_conflicts=True)
    TrialPanel.objects.bulk_update(update, ["stimulus"])
    missing = OrderedDict()
    for _, _, unit in slots:
        if unit.key not in found:
            missing.setdefault(unit.key, unit)
    return len(keys), list(missing.values())


def trials_available(study: Study) -> int:
    """Main trials a participant gets: each image at most once, so no more than the bank's images."""
    images = Trial.objects.filter(study=study, kind="main").values("image_id").distinct().count()
    return min(study.trials_per_participant, images)


def shortfall_text(study: Study) -> str:
    """A warning when participants would get fewer main trials than configured (empty otherwise)."""
    available = trials_available(study)
    if available >= study.trials_per_participant:
        return ""
    survived = kind_of(study).shortfall_reason()
    return (
        f"only {available} images{survived}, so participants get {available} trials instead of the "
        f"{study.trials_per_participant} configured; to launch, accept the smaller number (accept fewer trials) "
        "or add images"
    )
