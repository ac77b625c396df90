"""Forward-simulation answers: a learning trial takes only its acknowledgement and is not scored; a test
trial takes one of its classes and is correct when it names the network's decision; anything else is a
400 that writes nothing. The export carries the block, the round and the image's stratum."""

import csv
import io
import json

import pytest

from studies.models import Response
from studies.results import export
from tests.kinds.conftest import consent, post_answer, trial_html
from tests.support import factories

pytestmark = pytest.mark.django_db


def next_assignment(participant):
    participant.refresh_from_db()
    return participant.assignments.get(position=participant.answered_count)


@pytest.mark.parametrize(
    "block, change",
    [
        ("learning", {"seen": ""}),
        ("learning", {"seen": "yes"}),
        ("test", {"predicted": ""}),
        ("test", {"predicted": "stripes"}),
        ("test", {"predicted": "cat\x00"}),
        ("test", {"predicted": "CAT"}),
    ],
)
def test_an_answer_outside_the_trials_schema_is_refused_and_writes_nothing(client, block, change):
    study = factories.make_forward_simulation_study(attention_checks=0)
    participant = consent(client, study)
    assignment = next_assignment(participant)
    while assignment.presentation["block"] != block:
        assert post_answer(client, study, factories.good_answer(assignment)).status_code == 200
        assignment = next_assignment(participant)
    before = Response.objects.count()
    data = {k: v for k, v in factories.good_answer(assignment).items() if k not in ("seen", "predicted")}
    response = post_answer(client, study, {**data, **change})
    assert response.status_code == 400 and response.json()["ok"] is False and response.json()["error"]
    assert Response.objects.count() == before


def test_learning_is_unscored_and_a_test_answer_is_right_when_it_names_the_networks_decision(client):
    study = factories.make_forward_simulation_study()
    participant = consent(client, study)
    wrong_once = False
    for _ in range(participant.trial_count):
        assignment = next_assignment(participant)
        html = trial_html(client, study)
        block = assignment.presentation["block"]
        assert f'data-block="{block}"' in html
        assert ('data-testid="class-name"' in html) == (block == "learning")  # the decision, only when learning
        data = factories.good_answer(assignment)
        if block == "test" and not assignment.is_attention_check and not wrong_once:
            data["predicted"] = next(c for c in assignment.option_order if c != assignment.trial.target_class)
            wrong_once = True
        assert post_answer(client, study, data).status_code == 200
        r = Response.objects.get(assignment=assignment)
        if block == "learning":
            assert (r.answer, r.correct, r.score) == ({"seen": True}, None, None)
        elif not assignment.is_attention_check:
            assert r.answer == {"predicted": data["predicted"]}
            assert r.correct == (data["predicted"] == assignment.trial.target_class)
        else:
            assert r.correct is True
    assert wrong_once

    rows = list(csv.DictReader(io.StringIO("".join(export.export_responses(study)))))
    assert {r["block"] for r in rows} == {"learning", "test"}
    assert {r["round"] for r in rows} == {"1", "2"}
    assert {r["stratum"] for r in rows} == {"cue", "no_cue"}
    learned = [r for r in rows if r["block"] == "learning"]
    assert all(r["choice"] == "" and r["correct"] == "" for r in learned)
    tested = [r for r in rows if r["block"] == "test" and r["trial_kind"] == "main"]
    assert all(r["choice"] == json.loads(r["answer"])["predicted"] for r in tested)
