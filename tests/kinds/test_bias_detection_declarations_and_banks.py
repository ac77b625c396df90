"""Bias detection's configuration and bank: the declared ground truth is checked against the maps by
one rule (the cue's region against the object's box), bad declarations and image sets too small for
the sets are refused with the reason and the counts, and the image sets are seeded, disjoint within
a class and led by distinct images."""

import pytest

from studies.kinds import KindContext, kind_of
from studies.kinds.bias_detection import (
    CONFIRMED,
    FLAGGED,
    UNCHECKED,
    check_from_summary,
    declaration_check,
)
from studies.stimuli.configuration import study_config_errors
from tests.support import factories

pytestmark = pytest.mark.django_db


def test_a_declared_cue_is_confirmed_only_when_its_region_outweighs_the_object():
    # The demo's measured means for star: the biased network 22.7% on the stripes, 7.8% in the box.
    assert declaration_check("stripes", 0.078, {"stripes": 0.227})["status"] == CONFIRMED
    assert declaration_check("object", 0.078, {"stripes": 0.227})["status"] == FLAGGED
    # The stronger network: 2.8% on the stripes, 45% in the box.
    assert declaration_check("object", 0.45, {"stripes": 0.028})["status"] == CONFIRMED
    flagged = declaration_check("stripes", 0.45, {"stripes": 0.028})
    assert flagged["status"] == FLAGGED and "stripes" in flagged["reason"]
    # A cue no image marks with a region cannot be checked.
    assert declaration_check("colour", 0.45, {"stripes": 0.028})["status"] == UNCHECKED


def test_the_check_reads_the_bias_summary_of_the_class():
    summary = {
        "classes": [
            {"class": "star", "outside_box": {"mean": 0.9}, "on_cue": {"stripes": {"mean": 0.25, "n": 28}}},
            {"class": "ring", "outside_box": {"mean": 0.4}, "on_cue": {"stripes": {"mean": None, "n": 0}}},
        ]
    }
    assert check_from_summary(summary, "star", "stripes")["status"] == CONFIRMED
    assert check_from_summary(summary, "ring", "object")["status"] == CONFIRMED
    assert check_from_summary(summary, "ring", "stripes")["status"] == UNCHECKED  # no ring image shows stripes
    assert check_from_summary(summary, "cross", "object")["status"] == UNCHECKED


def test_too_few_images_of_a_class_are_refused_with_the_counts():
    study = factories.make_bias_study(status="draft")
    study.kind_settings = {**study.kind_settings, "images_per_set": 4, "sets_per_class": 3}
    errors = study_config_errors(study)
    # 24 needed: 3 sets of 4 for each of the 2 networks; the factory's set has 10 images of cat.
    assert any("needs 24 images of cat" in e and "has 10" in e for e in errors), errors
    study.kind_settings = {**study.kind_settings, "images_per_set": 2, "sets_per_class": 2}
    assert study_config_errors(study) == []


@pytest.mark.parametrize(
    "change, message",
    [
        ({"cues": []}, "candidate cues"),
        ({"cues": [{"name": "Object Colour", "label": "x"}]}, "lower-case"),
        ({"cues": [{"name": "object", "label": "x"}]}, "answer of its own"),
        ({"cues": [{"name": "a", "label": "x"}, {"name": "a", "label": "y"}]}, "must differ"),
        ({"cues": "not json"}, "not valid JSON"),
        ({"ground_truth": {"nobody": {"cat": "object"}}}, "none of this study's networks"),
        ({"ground_truth": {"first": {"cat": "watermark"}}}, "neither"),
        ({"ground_truth": {"first": {"zebra": "object"}}}, "no class 'zebra'"),
    ],
)
def test_bad_declarations_are_refused_with_the_reason(change, message):
    study = factories.make_bias_study(status="draft")
    truth = study.kind_settings["ground_truth"]
    if "ground_truth" in change:
        # "first" stands for the first network's name
        change = {
            "ground_truth": {
                **truth,
                **{k.replace("first", study.model.name): v for k, v in change["ground_truth"].items()},
            }
        }
    study.kind_settings = {**study.kind_settings, **change}
    errors = study_config_errors(study)
    assert any(message in e for e in errors), errors


def test_a_network_without_a_declaration_is_refused():
    study = factories.make_bias_study(status="draft")
    study.kind_settings = {**study.kind_settings, "ground_truth": {study.model.name: {"cat": "stripes"}}}
    assert any(study.weaker_model.name in e for e in study_config_errors(study))


def test_the_second_network_is_optional():
    study = factories.make_bias_study(status="draft")
    study.kind_settings = {**study.kind_settings, "ground_truth": {study.model.name: {"cat": "stripes"}}}
    study.weaker_model = None
    assert study_config_errors(study) == []


def _bank(study):
    task = kind_of(study)
    found = task.eligibility(study)
    context = KindContext(found.images, found.visible)
    for p in study.model.predictions.all():
        context.predictions[(p.model_id, p.image_id)] = p.top_labels
    for p in study.weaker_model.predictions.all():
        context.predictions[(p.model_id, p.image_id)] = p.top_labels
    return task.build_bank(study, context)


def test_sets_are_seeded_disjoint_within_a_class_and_led_by_distinct_images():
    study = factories.make_bias_study(status="draft")
    bank = _bank(study)
    main = [e for e in bank if e.kind == "main"]
    assert bank == _bank(study)
    sets = {e.image_id: e.payload for e in main}
    assert len(sets) == 4  # 2 networks x 2 sets
    shown = [i for p in sets.values() for i in p["image_ids"]]
    assert len(shown) == len(set(shown)) == 8
    assert all(len(p["image_ids"]) == 2 and p["image_ids"][0] == leader for leader, p in sets.items())
    # every set is offered in every arm, with the network's declared reliance
    assert {(e.image_id, e.method) for e in main} == {(i, m) for i in sets for m in study.methods}
    declared = {p["network"]: p["declared"] for p in sets.values()}
    assert declared == {study.model_id: "stripes", study.weaker_model_id: "object"}
    assert all(e.options == ("object", "stripes", "colour", "cannot_tell") for e in bank)
    study.seed += 1
    assert {e.image_id for e in _bank(study)} != set(sets) or [e.payload for e in _bank(study)] != [
        e.payload for e in bank
    ]


def test_each_panel_shows_its_own_image_with_its_prediction(client):
    from tests.kinds.conftest import consent, trial_html

    study = factories.make_bias_study()
    participant = consent(client, study)
    html = trial_html(client, study)
    trial = participant.assignments.get(position=0).trial
    panels = list(trial.panels.order_by("slot").select_related("stimulus"))
    assert [p.stimulus.image_id for p in panels] == trial.payload["image_ids"]
    assert html.count('data-testid="prediction"') == len(panels)
    assert "What does the network rely on to recognise" in html


def test_the_control_arm_gets_every_set_and_sees_the_predictions_without_a_map(client):
    from studies.design import NO_EXPLANATION
    from tests.kinds.conftest import consent, trial_html

    study = factories.make_bias_study(methods=("gradcam",), control_arm=True)
    main = study.trials.filter(kind="main")
    assert set(main.values_list("method", flat=True)) == {"gradcam", NO_EXPLANATION}
    by_arm = {m: set(main.filter(method=m).values_list("image_id", flat=True)) for m in ("gradcam", NO_EXPLANATION)}
    assert by_arm["gradcam"] == by_arm[NO_EXPLANATION]
    # the attention checks show no map: the control arm never sees one
    assert set(study.trials.filter(kind="attention").values_list("method", flat=True)) == {NO_EXPLANATION}
    for _ in range(6):  # participants fill the arms in turn: find one in the control arm
        client.cookies.clear()
        participant = consent(client, study)
        if participant.condition == NO_EXPLANATION:
            break
    assert participant.condition == NO_EXPLANATION
    html = trial_html(client, study)
    a = participant.assignments.get(position=0)
    assert html.count('data-testid="prediction"') == len(a.trial.payload["image_ids"])
    assert "The highlights show" not in html


def test_the_published_protocol_preset_has_a_control_arm():
    from studies.kinds.presets import preset_named

    preset = preset_named("bias-detection-adebayo-2022")
    assert preset.label == "Bias detection (Adebayo et al. 2022)"
    assert preset.kind == "bias_detection" and preset.study["control_arm"] is True
    assert preset.form_initial()["bias_detection__images_per_set"] == 6
