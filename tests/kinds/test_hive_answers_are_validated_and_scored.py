"""HIVE answers: both questions and both confidences are required and must be options of the trial
(a 400 that writes nothing otherwise); they are scored (Q1 correct, Q2 score, confidence), exported
with the answer as given, and the bonus above chance is in the participants export."""

import csv
import io
import json

import pytest

from studies.models import Response
from studies.results import export
from tests.kinds.conftest import answer_up_to, assert_refused_and_nothing_written, consent, main_assignment, post_answer
from tests.support import factories

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "change",
    [
        {"confidence": ""},
        {"predicted": "5"},
        {"correct_class": "0"},
        {"correct_confidence": "6"},
        {"predicted": "cat"},
        {"confidence": "2\x00"},
    ],
)
def test_a_bad_distinction_answer_is_refused_and_writes_nothing(client, change):
    study = factories.make_hive_study("hive_distinction")
    assert_refused_and_nothing_written(client, study, change)


def test_a_distinction_answer_is_scored_per_question(client):
    study = factories.make_hive_study("hive_distinction")
    participant = consent(client, study)
    assignment = main_assignment(participant)
    answer_up_to(client, study, participant, assignment)
    order = list(assignment.option_order)
    truth, top = assignment.trial.payload["true_class"], assignment.trial.target_class
    wrong = next(c for c in order if c not in (truth, top))
    data = {**factories.good_answer(assignment), "predicted": order.index(wrong) + 1, "confidence": 2}
    assert post_answer(client, study, data).status_code == 200
    r = Response.objects.get(assignment=assignment)
    assert (r.correct, r.score, r.confidence) == (False, 1.0, 2)
    assert r.answer["predicted"] == wrong and r.answer["correct_class"] == truth
    assert r.answer["predicted_panel"] == order.index(wrong) + 1


def test_agreement_is_correct_when_its_side_matches_the_prediction(client):
    study = factories.make_hive_study("hive_agreement")
    participant = consent(client, study)
    for a in participant.assignments.order_by("position"):
        right = a.trial.payload["prediction_correct"]
        data = factories.good_answer(a)
        if not a.is_attention_check:
            data["agreement"] = 2 if right else 2  # "somewhat confident it is correct", always
        assert post_answer(client, study, data).status_code == 200
        r = Response.objects.get(assignment=a)
        if not a.is_attention_check:
            assert r.correct == right and r.score == 2.0
    assert post_answer(client, study, {**factories.good_answer(a), "agreement": "5"}).status_code in (400, 409)


def test_the_exports_carry_the_answer_and_the_bonus_above_chance(client):
    study = factories.make_hive_study("hive_agreement", settings={"bonus_per_correct_above_chance": 0.25})
    participant = consent(client, study)
    for a in participant.assignments.order_by("position"):
        assert post_answer(client, study, factories.good_answer(a)).status_code == 200
    rows = list(csv.DictReader(io.StringIO("".join(export.export_responses(study)))))
    main = [r for r in rows if r["trial_kind"] == "main"]
    assert all(json.loads(r["answer"])["agreement"] in (1, 4) for r in main)
    assert all(r["correct"] == "true" and r["prediction_correct"] in ("true", "false") for r in main)
    assert {r["choice"] for r in main} <= {"correct", "incorrect"} and all(r["rating"] in ("1", "4") for r in main)
    people = list(csv.DictReader(io.StringIO("".join(export.export_participants(study)))))
    # every main answer right: 0.25 x (n - 0.5 n)
    assert float(people[0]["bonus"]) == pytest.approx(round(0.25 * (len(main) - 0.5 * len(main)), 2))
    cd = factories.make_class_discrimination_study()
    assert "bonus" in next(csv.reader(io.StringIO("".join(export.export_participants(cd)))))
