"""Forward simulation refuses, with the counts, a configuration whose images cannot fill a participant's
blocks: the bias scenario without enough images with (and without) a cue, at configuration; failure
cases without enough wrong predictions, at configuration when the predictions are stored, else when
generation plans the bank; and a within-subjects design or a trial count that is not the rounds'."""

from types import SimpleNamespace

import pytest

from studies.kinds import KindContext, kind_of
from studies.models import Prediction
from studies.stimuli.configuration import StudyError, study_config_errors
from tests.support import factories

pytestmark = pytest.mark.django_db
KNOWN = {"gradcam": "cam"}


def test_a_consistent_study_has_no_error():
    study = factories.make_forward_simulation_study()
    assert study_config_errors(study, KNOWN) == []


def test_bias_without_enough_cue_images_is_refused_with_the_counts():
    study = factories.make_forward_simulation_study()
    study.kind_settings = {**study.kind_settings, "rounds": 3, "learning_per_round": 4, "test_per_round": 4}
    study.trials_per_participant = 24
    errors = study_config_errors(study, KNOWN)
    # 16 images, 8 with the cue; 24 per participant, half of them with it
    assert any("needs 24 images per participant" in e and "12 of them with a cue and 12 not" in e for e in errors)
    assert any("the images give 8 with a cue and 8 not" in e for e in errors), errors


def test_failure_cases_without_enough_wrong_predictions_are_refused_with_the_counts():
    study = factories.make_forward_simulation_study(scenario="failure_cases")
    study.kind_settings = {**study.kind_settings, "incorrect_share": 0.75, "rounds": 3}
    study.trials_per_participant = 12
    # Stored predictions: 8 of the 16 images are predicted wrongly; 9 of 12 per participant must be.
    message = "needs 12 images per participant (3 rounds of 2 + 2), 9 of them the model gets wrong and 3 not; "
    counts = "the images give 8 the model gets wrong and 8 not"
    assert "forward simulation " + message + counts in study_config_errors(study, KNOWN)
    # Without stored predictions the bank refuses when generation plans it, with the same counts.
    kind = kind_of(study)
    found = kind.eligibility(study)
    context = KindContext(found.images, found.visible)
    for p in Prediction.objects.filter(model=study.model):
        context.predictions[(study.model.id, p.image_id)] = p.top_labels
    Prediction.objects.filter(model=study.model).delete()
    assert not any("gets wrong" in e for e in study_config_errors(study, KNOWN))
    with pytest.raises(StudyError) as refused:
        kind.build_bank(study, context)
    assert str(refused.value) == "forward simulation " + message + counts


def test_within_subjects_and_a_trial_count_that_is_not_the_rounds_are_refused():
    study = factories.make_forward_simulation_study()
    study.design = "within"
    study.trials_per_participant = 10
    errors = study_config_errors(study, KNOWN)
    assert any("between subjects" in e for e in errors)
    assert any("set trials per participant to 8" in e for e in errors)


def test_a_setting_out_of_its_choices_is_refused():
    study = factories.make_forward_simulation_study()
    study.kind_settings = {**study.kind_settings, "scenario": "pretty_pictures"}
    assert any("not one of expert_strategy, failure_cases, bias" in e for e in study_config_errors(study, KNOWN))


def test_the_presets_reproduce_the_three_scenarios():
    from studies.kinds.presets import PRESETS

    scenarios = {p.kind_settings["scenario"]: p for p in PRESETS.values() if p.kind == "forward_simulation"}
    assert set(scenarios) == {"bias", "failure_cases", "expert_strategy"}
    for preset in scenarios.values():
        assert preset.study["control_arm"] is True and preset.study["trials_per_participant"] == 48
        settings = kind_of("forward_simulation").settings_of(SimpleNamespace(kind_settings=preset.kind_settings))
        assert (settings["rounds"], settings["learning_per_round"], settings["test_per_round"]) == (3, 8, 8)
