"""The trial bank comes from pure seeded functions: the same configuration always gives the same bank."""

import pytest

from studies.stimuli import bank as trial_bank
from studies.stimuli import configuration


def bank_rows(study):
    return [(e.index, e.kind, e.image_id, e.method, e.target_class, e.options) for e in trial_bank.build_bank(study)]


@pytest.mark.django_db
def test_the_same_configuration_gives_the_same_bank_and_another_seed_another_bank(cd_study):
    cd_study.max_images = 3
    first = bank_rows(cd_study)
    assert first == bank_rows(cd_study)
    assert len([r for r in first if r[1] == "main"]) == 3 * 2 * 2  # images x classes x methods
    cd_study.seed = 12345
    assert bank_rows(cd_study) != first


@pytest.mark.django_db
def test_the_bank_keeps_only_images_with_exactly_two_labels_the_model_knows(cd_study, scenes):
    first = scenes.images.order_by("id")[0]
    first.labels = ["circle", "unknown-thing"]
    first.save()
    second = scenes.images.order_by("id")[1]
    second.labels = ["circle", "square", "star"]
    second.save()
    assert configuration.eligible_image_count(cd_study) == 2
    assert {r[2] for r in bank_rows(cd_study) if r[1] == "main"} == {im.id for im in scenes.images.order_by("id")[2:]}


@pytest.mark.django_db
def test_the_stored_trials_follow_the_bank_and_resyncing_changes_nothing(cd_study):
    bank = trial_bank.build_bank(cd_study)
    assert trial_bank.sync_trials(cd_study, bank) == len(bank)
    assert trial_bank.sync_trials(cd_study, trial_bank.build_bank(cd_study)) == 0
    stored = [(t.index, t.kind, t.image_id, t.method, t.target_class, tuple(t.options)) for t in cd_study.trials.all()]
    assert stored == bank_rows(cd_study)
