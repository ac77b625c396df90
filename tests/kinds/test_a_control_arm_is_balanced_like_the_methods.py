"""The no-explanation control arm (Study.control_arm): one more arm, "none", after the methods. Condition
slots (between subjects) and the Latin square (within) run over the arms, balanced and dropout-aware as
for the methods; a kind without a control arm refuses one at configuration, and "none" is never a method.

No kind of this file's era supports the arm, so a kind's support is switched on for the flow tests (the
HIVE agreement bank is built over `study.arms` like every kind's)."""

from collections import Counter

import pytest

from studies import design
from studies.kinds import kind_of
from studies.models import Study
from studies.stimuli.configuration import study_config_errors
from tests.support import factories

KNOWN = {"gradcam": "cam", "guided_backprop": "gradient"}


def test_the_arms_are_the_methods_then_the_control_arm():
    assert Study(methods=["gradcam", "guided_backprop"]).arms == ["gradcam", "guided_backprop"]
    with_control = Study(methods=["gradcam", "guided_backprop"], control_arm=True)
    assert with_control.arms == ["gradcam", "guided_backprop", design.NO_EXPLANATION]
    assert with_control.methods == ["gradcam", "guided_backprop"]  # the methods themselves stay methods


@pytest.mark.django_db
def test_a_kind_without_a_control_arm_refuses_one_at_configuration():
    study = factories.make_class_discrimination_study()
    assert not kind_of(study).supports_control_arm
    assert not any("control arm" in e for e in study_config_errors(study, KNOWN))
    study.control_arm = True
    errors = study_config_errors(study, KNOWN)
    assert any("no no-explanation control arm" in e for e in errors), errors


@pytest.mark.django_db
def test_none_is_the_control_arm_and_cannot_be_listed_as_a_method():
    study = factories.make_class_discrimination_study()
    study.methods = ["gradcam", design.NO_EXPLANATION]
    errors = study_config_errors(study, KNOWN)
    assert any("control arm, not a method" in e for e in errors), errors
    assert not any(e.startswith("unknown methods") for e in errors)


@pytest.fixture
def control_arm_supported(monkeypatch):
    monkeypatch.setattr(type(kind_of("hive_agreement")), "supports_control_arm", True)


def agreement_study(design_name="between", methods=("gradcam",)):
    study = factories.make_hive_study("hive_agreement", methods=methods, control_arm=True, trials_per_participant=4)
    study.design = design_name  # the bank does not depend on the design
    study.save(update_fields=["design"])
    return study


@pytest.mark.django_db
def test_between_subjects_the_control_arm_fills_like_a_method_and_shows_only_its_own_trials(control_arm_supported):
    study = agreement_study(methods=("gradcam", "guided_gradcam"))
    assert set(study.trials.filter(kind="main").values_list("method", flat=True)) == set(study.arms)
    people = [factories.make_participant(study) for _ in range(6)]
    assert Counter(p.condition for p in people) == {"gradcam": 2, "guided_gradcam": 2, design.NO_EXPLANATION: 2}
    for p in people:
        main = p.assignments.filter(is_attention_check=False)
        assert {a.trial.method for a in main} == {p.condition}


@pytest.mark.django_db
def test_a_control_arm_participant_who_drops_out_frees_the_place_for_the_next(control_arm_supported):
    study = agreement_study()
    first = [factories.make_participant(study) for _ in range(2)]
    assert sorted(p.condition for p in first) == sorted(study.arms)
    control = next(p for p in first if p.condition == design.NO_EXPLANATION)
    factories.make_inactive(control)
    assert factories.make_participant(study).condition == design.NO_EXPLANATION


@pytest.mark.django_db
def test_within_subjects_the_latin_square_rotates_the_control_arm_with_the_methods(control_arm_supported):
    study = agreement_study("within", methods=("gradcam", "guided_gradcam"))
    rows = design.williams_square(len(study.arms))
    people = [factories.make_participant(study) for _ in range(len(rows))]
    assert sorted(p.latin_square_row for p in people) == list(range(len(rows)))
    firsts = Counter()
    for p in people:
        main = [a.trial.method for a in p.assignments.filter(is_attention_check=False).order_by("position")]
        assert set(main) == set(study.arms)  # 4 trials over 3 arms: every arm at least once
        firsts[main[0]] += 1
    # Across the square's rows, every arm opens as often as every other.
    assert set(firsts) == set(study.arms) and len(set(firsts.values())) == 1
