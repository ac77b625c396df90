"""Forward simulation (Colin, Fel et al. 2022): each participant plays rounds of a learning block then a
test block; learning trials show the arm's map of the network's decision (the plain photograph in the
control arm), test trials a new photograph alone; every image at most once, every block keeping the
scenario's share; attention checks only inside test blocks and never first; the plan is the seed's."""

from collections import Counter

import pytest

from studies import design
from studies.kinds import kind_of
from studies.participants import flow
from tests.support import factories

pytestmark = pytest.mark.django_db


def plan_rows(participant):
    rows = []
    for a in (
        participant.assignments.select_related("trial").prefetch_related("trial__panels__stimulus").order_by("position")
    ):
        panel = a.trial.panels.get().stimulus
        rows.append((a.presentation["round"], a.presentation["block"], a, panel))
    return rows


def test_rounds_alternate_learning_and_test_blocks_and_show_maps_only_when_learning():
    study = factories.make_forward_simulation_study(attention_checks=0)
    for _ in range(4):
        participant = factories.make_participant(study)
        rows = plan_rows(participant)
        blocks = [(r, b) for r, b, _, _ in rows]
        assert blocks == [(1, "learning")] * 2 + [(1, "test")] * 2 + [(2, "learning")] * 2 + [(2, "test")] * 2
        images = [a.trial.image_id for _, _, a, _ in rows]
        assert len(images) == len(set(images)) == 8  # each image once, learning or test
        for _, block, a, panel in rows:
            assert a.trial.method == participant.condition
            assert panel.target_class == a.trial.target_class  # the network's decision
            if block == "learning":
                assert panel.method == participant.condition  # the arm's map; the photograph in the control arm
                assert a.option_order == []
            else:
                assert panel.method == design.NO_EXPLANATION  # the photograph alone
                assert a.option_order == list(study.model.categories)
    assert Counter(p.condition for p in study.participants.all()) == {"gradcam": 2, design.NO_EXPLANATION: 2}


def test_every_block_keeps_the_scenarios_share():
    study = factories.make_forward_simulation_study(
        n_images=32, learning_per_round=4, test_per_round=4, attention_checks=0
    )
    participant = factories.make_participant(study)
    per_block = Counter((r, b, a.trial.payload["stratum"]) for r, b, a, _ in plan_rows(participant))
    for r in (1, 2):
        for b in ("learning", "test"):
            assert per_block[(r, b, "cue")] == per_block[(r, b, "no_cue")] == 2


def test_attention_checks_sit_inside_test_blocks_never_first():
    study = factories.make_forward_simulation_study()
    for _ in range(6):
        rows = plan_rows(factories.make_participant(study))
        checks = [i for i, (_, _, a, _) in enumerate(rows) if a.is_attention_check]
        assert len(checks) == 1
        i = checks[0]
        round_, block, _, panel = rows[i]
        assert block == "test" and panel.method == design.NO_EXPLANATION
        assert rows[i - 1][:2] == (round_, "test")  # never the first trial of its block


def test_the_plan_is_a_function_of_the_participants_seed():
    study = factories.make_forward_simulation_study()
    bank, _ = flow._bank_with_trial_ids(study)
    kind = kind_of(study)

    def plan(seed, condition="gradcam"):
        return kind.participant_plan(
            study, bank, arms=study.arms, participant_seed=seed, condition=condition, latin_row=None
        )

    assert plan(7) == plan(7)
    assert [p.bank_index for p in plan(7)] != [p.bank_index for p in plan(8)]
    with pytest.raises(ValueError, match="not one of the study's arms"):
        plan(7, condition="guided_backprop")
