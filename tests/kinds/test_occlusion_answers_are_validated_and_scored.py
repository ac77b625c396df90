"""Occlusion 2-AFC answers: one of the six buttons (region and confidence in one value), anything
else a 400 that writes nothing; scored against the network's own ground truth with the confidence
in its typed column, and exported with the regions, the right region and the map's agreement."""

import csv
import io
import json

import pytest

from studies.models import Response
from studies.results import export
from tests.kinds.conftest import consent, post_answer, trial_html
from tests.support import factories

pytestmark = pytest.mark.django_db


def first_main(client, study):
    participant = consent(client, study)
    assignment = participant.assignments.filter(is_attention_check=False).order_by("position").first()
    for a in participant.assignments.filter(position__lt=assignment.position).order_by("position"):
        assert post_answer(client, study, factories.good_answer(a)).status_code == 200
    return participant, assignment


@pytest.mark.parametrize("choice", ["", "A", "A4", "C1", "B0", "a3", "A3\x00", "1"])
def test_an_answer_outside_the_six_buttons_is_refused_and_writes_nothing(client, choice):
    study = factories.make_occlusion_study()
    _, assignment = first_main(client, study)
    before = Response.objects.count()
    response = post_answer(client, study, {**factories.good_answer(assignment), "choice": choice})
    assert response.status_code == 400 and response.json()["ok"] is False and response.json()["error"]
    assert Response.objects.count() == before


@pytest.mark.parametrize("confidence", [1, 2, 3])
def test_the_answer_is_scored_against_the_networks_truth_with_its_confidence(client, confidence):
    study = factories.make_occlusion_study()
    _, assignment = first_main(client, study)
    truth = assignment.trial.payload["answer"]
    wrong = "B" if truth == "A" else "A"
    assert (
        post_answer(client, study, {**factories.good_answer(assignment), "choice": f"{wrong}{confidence}"}).status_code
        == 200
    )
    r = Response.objects.get(assignment=assignment)
    assert r.correct is False and r.confidence == confidence
    assert r.answer == {"region": wrong, "confidence": confidence}


def test_the_page_marks_both_regions_and_asks_about_the_class(client):
    study = factories.make_occlusion_study()
    participant, assignment = first_main(client, study)
    html = trial_html(client, study)
    regions = assignment.trial.payload["regions"]
    for name in ("A", "B"):
        box = ",".join(f"{v:g}" for v in regions[name])
        assert f'data-testid="region" data-name="{name}" data-box="{box}"' in html
    assert f"confidence in \u201c{assignment.trial.target_class}\u201d more?" in html
    assert html.count('data-testid="option"') == 6


def test_the_export_carries_the_regions_and_the_truth(client):
    study = factories.make_occlusion_study()
    _, assignment = first_main(client, study)
    assert post_answer(client, study, factories.good_answer(assignment)).status_code == 200
    rows = list(csv.DictReader(io.StringIO("".join(export.export_responses(study)))))
    row = next(r for r in rows if r["trial_kind"] == "main")
    payload = assignment.trial.payload
    assert row["choice"] == row["correct_region"] == payload["answer"] and row["correct"] == "true"
    assert row["region_a"] == "|".join(f"{v:g}" for v in payload["regions"]["A"])
    assert float(row["score_difference"]) >= 0.1 and row["map_agrees"] in ("true", "false")
    assert json.loads(row["answer"]) == {"region": payload["answer"], "confidence": 3}
