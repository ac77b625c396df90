"""Condition assignment on consent: balanced with dropouts, Latin square rows, seeded and stored plans."""

from collections import Counter

import pytest

from studies import design
from studies.kinds import kind_of
from studies.models import Participant, ParticipantStatus
from studies.participants import flow as participation
from tests.support import factories
from tests.support.races import run_at_once

pytestmark = pytest.mark.django_db


def conditions(study):
    return Counter(Participant.objects.filter(study=study, is_pilot=False).values_list("condition", flat=True))


def test_between_subjects_assignment_is_balanced():
    study = factories.make_class_discrimination_study()
    for _ in range(9):
        factories.make_participant(study)
    assert conditions(study) == {m: 3 for m in study.methods}


def test_dropouts_past_the_inactivity_timeout_free_their_slot():
    study = factories.make_class_discrimination_study(inactivity_timeout_minutes=30)
    a, b, c = (factories.make_participant(study) for _ in range(3))
    assert [a.condition, b.condition, c.condition] == list(study.methods)
    factories.answer_all(a)
    factories.make_inactive(a)  # finished long ago: still holds its slot
    Participant.objects.filter(pk=a.pk).update(status=ParticipantStatus.COMPLETED)
    factories.make_inactive(b)  # gone for 35 minutes: slot freed
    d = factories.make_participant(study)
    assert d.condition == b.condition
    factories.make_inactive(c)
    e = factories.make_participant(study)
    assert e.condition == c.condition  # not a's method: completed participants count
    # A returning dropout resumes with its own condition and plan.
    b.refresh_from_db()
    assert b.condition == study.methods[1] and b.assignments.count() == study.trials_per_participant + 1


def test_pilots_do_not_take_slots_from_real_participants():
    study = factories.make_class_discrimination_study()
    for _ in range(2):
        factories.make_participant(study, pilot=True)
    real = factories.make_participant(study)
    assert real.condition == study.methods[0]


def test_within_subjects_follows_the_latin_square():
    methods = ["gradcam", "guided_backprop", "guided_gradcam", "deconvnet"]
    study = factories.make_class_discrimination_study(
        methods=methods, design_name="within", n_images=8, trials_per_participant=8
    )
    people = [factories.make_participant(study) for _ in range(8)]
    rows = [p.latin_square_row for p in people]
    assert rows == [0, 1, 2, 3, 0, 1, 2, 3]
    square = design.williams_square(len(methods))
    for p in people:
        main = [a for a in p.assignments.select_related("trial") if not a.is_attention_check]
        assert Counter(a.trial.method for a in main) == {m: 2 for m in methods}
        image_order = sorted({t.image_id for t in study.trials.filter(kind="main")})
        for a in main:
            expected = methods[square[p.latin_square_row][image_order.index(a.trial.image_id) % len(methods)]]
            assert a.trial.method == expected


def test_each_participant_plan_is_reproducible_from_the_study_seed():
    study = factories.make_trust_study(trials_per_participant=5, attention_checks=2)
    p = factories.make_participant(study)
    assert p.seed == design.derive_seed(study.seed, "participant", p.public_id)
    stored = [
        (a.position, a.trial.index, a.is_attention_check, a.presentation, tuple(a.option_order))
        for a in p.assignments.select_related("trial").order_by("position")
    ]
    rebuilt = design.participant_plan(
        participation.study_bank(study),
        present=kind_of(study).present,
        design=study.design,
        methods=study.methods,
        trials_per_participant=study.trials_per_participant,
        attention_checks=study.attention_checks_per_participant,
        participant_seed=p.seed,
        condition=p.condition,
    )
    assert stored == [(t.position, t.bank_index, t.is_attention_check, t.presentation, t.option_order) for t in rebuilt]
    assert sum(1 for s in stored if s[2]) == 2 and not stored[0][2]  # checks mixed in, never first
    other = factories.make_participant(study)
    assert other.seed != p.seed


def test_option_order_is_randomized_across_participants():
    study = factories.make_class_discrimination_study(n_images=6, trials_per_participant=6)
    orders = Counter()
    for _ in range(6):
        p = factories.make_participant(study)
        for a in p.assignments.select_related("trial"):
            assert sorted(a.option_order) == sorted(a.trial.options)
            orders[a.option_order[0] == sorted(a.option_order)[0]] += 1
    assert orders[True] > 0 and orders[False] > 0


@pytest.mark.django_db(transaction=True)
def test_racing_consents_are_serialized_and_stay_balanced():
    study = factories.make_class_discrimination_study(methods=["gradcam", "guided_backprop"])
    run_at_once(*[lambda: factories.make_participant(study)] * 6)
    assert conditions(study) == {"gradcam": 3, "guided_backprop": 3}


@pytest.mark.django_db(transaction=True)
def test_the_same_external_id_racing_twice_gets_one_participation():
    study = factories.make_class_discrimination_study()
    got = [p.pk for p in run_at_once(*[lambda: factories.make_participant(study, external_id="racer")] * 2)]
    assert len(got) == 2 and got[0] == got[1]
    assert Participant.objects.filter(study=study).count() == 1


def test_a_participation_ended_by_the_researchers_frees_its_slot():
    study = factories.make_class_discrimination_study()
    a, b, _ = (factories.make_participant(study) for _ in range(3))
    Participant.objects.filter(pk=b.pk).update(status=ParticipantStatus.ABANDONED)
    assert factories.make_participant(study).condition == b.condition
    assert factories.make_participant(study).condition == a.condition  # the next rank, first arm
