"""A trial that a participant was assigned never changes: after a pilot, a new configuration makes a
new bank of new trials, the pilot's assignments keep theirs, and the export of the pilot's answers
is the same, byte for byte."""

import pytest

from studies.models import Trial
from studies.participants import flow as participation
from studies.results import export
from studies.stimuli import bank
from tests.support import factories

pytestmark = pytest.mark.django_db


def responses_csv(study) -> str:
    return "".join(export.export_responses(study))


def shown(participant):
    return [
        (
            a.position,
            a.trial_id,
            a.trial.image.filename,
            a.trial.target_class,
            a.trial.method,
            [p.stimulus_id for p in a.trial.panels.all()],
        )
        for a in participant.assignments.select_related("trial__image").order_by("position")
    ]


def test_regenerating_after_a_pilot_leaves_the_pilots_answers_as_they_were(researcher_world):
    study = researcher_world.generate(
        researcher_world.class_discrimination_study(methods=["gradcam", "guided_backprop"])
    )
    pilot = factories.answer_all(factories.make_participant(study, pilot=True))
    before_csv, before_shown = responses_csv(study), shown(pilot)

    study.seed, study.max_images = 99, 3  # the pilot taught us something: a new bank
    study.save()
    study = researcher_world.generate(study)
    assert study.status == "ready"

    assert responses_csv(study) == before_csv
    assert shown(pilot) == before_shown
    current = set(Trial.objects.filter(study=study).values_list("pk", flat=True))
    held = {trial_id for _, trial_id, *_ in before_shown}
    assert not held & current  # the pilot's trials were retired, not rewritten
    retired = set(Trial.all_versions.filter(study=study, retired_at__isnull=False).values_list("pk", flat=True))
    assert retired == held  # only what a participant saw is kept aside; the rest is reused or deleted
    assert len({t.image_id for t in Trial.objects.filter(study=study, kind="main")}) == 3

    # new participants get trials of the new bank only
    newcomer = factories.make_participant(study, pilot=True)
    assert {a.trial_id for a in newcomer.assignments.all()} <= current
    assert participation.study_bank(study)[-1].index == max(
        Trial.objects.filter(study=study).values_list("index", flat=True)
    )


def test_a_trial_nobody_was_assigned_is_updated_in_place(researcher_world):
    study = researcher_world.generate(researcher_world.class_discrimination_study(methods=["gradcam"]))
    first = Trial.objects.get(study=study, index=0)
    study.seed, study.max_images = 99, 3
    study.save()
    bank.sync_trials(study, bank.build_bank(study))
    assert not Trial.all_versions.filter(study=study, retired_at__isnull=False).exists()
    assert Trial.objects.get(study=study, index=0).pk == first.pk


def test_a_held_trial_is_never_pointed_at_another_stimulus(researcher_world):
    study = researcher_world.generate(researcher_world.class_discrimination_study(methods=["gradcam"]))
    pilot = factories.answer_all(factories.make_participant(study, pilot=True))
    # the pilot's first trial shows a stimulus that today's configuration would not make (an older
    # engine's, say): regenerating must not swap it under the recorded answer
    trial = pilot.assignments.get(position=0).trial
    older = factories.make_stimulus(trial.image, study.model, trial.method, trial.target_class)
    trial.panels.update(stimulus=older)
    before_csv, before_shown = responses_csv(study), shown(pilot)

    study = researcher_world.generate(study)
    assert responses_csv(study) == before_csv and shown(pilot) == before_shown
    assert Trial.all_versions.get(pk=trial.pk).retired_at is not None
    replacement = Trial.objects.get(study=study, index=trial.index)
    assert replacement.panels.get().stimulus_id not in (None, older.pk)
