"""Bias detection's answers: both questions are required and must be options of the trial (a 400
that writes nothing otherwise); the choice is scored against the declared reliance and exported; the
oracle reads the maps (the cue's region against the object's box), and without maps guesses from the
predictions."""

import csv
import io
import json

import numpy as np
import pytest

from studies.kinds.bias_detection import CANNOT_TELL, OBJECT, guess_from_predictions, read_from_maps
from studies.models import Response
from studies.participants.bots import Oracle
from studies.results import export
from tests.kinds.conftest import answer_up_to, assert_refused_and_nothing_written, consent, main_assignment, post_answer
from tests.support import factories

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "change",
    [{"reliance": ""}, {"reliance": "watermark"}, {"confidence": ""}, {"confidence": "6"}, {"reliance": "object\x00"}],
)
def test_a_bad_answer_is_refused_and_writes_nothing(client, change):
    study = factories.make_bias_study()
    assert_refused_and_nothing_written(client, study, change)


def test_the_choice_is_scored_against_the_declaration_and_exported(client):
    study = factories.make_bias_study()
    participant = consent(client, study)
    assignment = main_assignment(participant)
    answer_up_to(client, study, participant, assignment)
    declared = assignment.trial.payload["declared"]
    wrong = OBJECT if declared != OBJECT else "stripes"
    assert post_answer(client, study, {**factories.good_answer(assignment), "reliance": wrong}).status_code == 200
    r = Response.objects.get(assignment=assignment)
    assert r.correct is False and r.confidence == 4 and r.answer == {"reliance": wrong, "confidence": 4}
    rows = list(csv.DictReader(io.StringIO("".join(export.export_responses(study)))))
    row = next(x for x in rows if int(x["position"]) == assignment.position)
    assert row["choice"] == wrong and row["declared_reliance"] == declared and row["correct"] == "false"
    assert row["model"] in (study.model.name, study.weaker_model.name)
    assert row["options"].split("|")[-1] == CANNOT_TELL
    assert json.loads(row["answer"]) == {"confidence": 4, "reliance": wrong}


def _map_on(box, size=128):
    raw = np.zeros((size, size), dtype=np.float32)
    x0, y0, x1, y1 = box
    raw[y0:y1, x0:x1] = 1.0
    return raw


def test_the_oracle_reads_the_cue_from_the_maps_and_the_object_otherwise():
    study = factories.make_bias_study()
    trial = study.trials.filter(kind="main").first()
    stimuli = [p.stimulus for p in trial.panels.order_by("slot").select_related("stimulus__image")]
    oracle = Oracle(study)
    for s in stimuli:  # every map on the stripes (top left)
        factories.with_raw_map(s, _map_on((0, 0, 24, 24)))
    assert read_from_maps(Oracle(study), stimuli, "cat", ["stripes", "colour"]) == "stripes"
    for s in stimuli:  # every map on the cat's box
        s.raw_map.delete(save=True)
        factories.with_raw_map(s, _map_on(s.image.boxes_for("cat")[0]))
    oracle = Oracle(study)
    assert read_from_maps(oracle, stimuli, "cat", ["stripes", "colour"]) == OBJECT


def test_without_maps_the_oracle_guesses_from_the_predictions():
    study = factories.make_bias_study()
    trial = study.trials.filter(kind="main").first()
    stimuli = [p.stimulus for p in trial.panels.order_by("slot").select_related("stimulus__image")]
    oracle = Oracle(study)
    # The factory's network recognises cat on every image, and every image shows the stripes: no contrast.
    assert guess_from_predictions(oracle, stimuli, "cat", ["stripes", "colour"]) == OBJECT
    # Recognised only where the stripes are: the stripes tell the prediction apart.
    stimuli[1].image.boxes = [b for b in stimuli[1].image.boxes if not b.get("cue")]
    oracle.predictions[(stimuli[1].model_id, stimuli[1].image_id)] = ["dog", "car"]
    assert guess_from_predictions(oracle, stimuli, "cat", ["stripes", "colour"]) == "stripes"
    # Recognised nowhere: nothing to go on.
    for s in stimuli:
        oracle.predictions[(s.model_id, s.image_id)] = ["dog", "car"]
    assert guess_from_predictions(oracle, stimuli, "cat", ["colour"]) == CANNOT_TELL
