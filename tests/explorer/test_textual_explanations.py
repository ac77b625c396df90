"""Textual explanations on the demo networks: the weaker (biased) network's decisions for "star" rest on
units that detect the stripes cue; the stronger network's hardly ever do.

The probe set is the demo's image set (scenes the networks never saw, the stripes cue going with
"star" as in the weaker network's training data), with the cue regions written by the demo's
generator as `cue:stripes` boxes.
"""

import io
import json

import pytest
from django.core.management import call_command

from explain_engine.synthetic import CLASSES
from studies.demo import IMAGE_SET_NAME
from studies.models import AnalysisKind, ModelAnalysis

# Measured on the shipped networks (README, "Textual explanations"): see the shares printed below.
WEAK_MIN_SHARE = 0.5  # "most" images with the cue
STRONG_MAX_SHARE = 0.2  # "few"


@pytest.fixture
def demo_models_and_scenes(demo_networks, demo_scenes):
    return (*demo_networks, demo_scenes)


def explain(model, tmp_path) -> dict:
    out = tmp_path / f"{model.arch}.json"
    call_command(
        "textual_explanations",
        "--model", model.name, "--image-set", IMAGE_SET_NAME, "--class", "star", "--top", "3", "--json", str(out),
        stdout=io.StringIO(),
    )  # fmt: skip
    return json.loads(out.read_text())


def stripes_share(result: dict) -> float:
    cued = [e for e in result["images"] if "stripes" in e["cues"]]
    return sum(any(c["name"] == "stripes" for c in e["concepts"]) for e in cued) / len(cued)


def test_the_weaker_network_names_stripes_for_star_on_most_cued_images_and_the_stronger_on_few(
    demo_models_and_scenes, tmp_path
):
    strong, weak, scenes = demo_models_and_scenes
    weak_result, strong_result = explain(weak, tmp_path), explain(strong, tmp_path)
    weak_share, strong_share = stripes_share(weak_result), stripes_share(strong_result)
    print(f"stripes in the top 3 for star on cued images: weak {weak_share:.2f}, strong {strong_share:.2f}")
    assert weak_share >= WEAK_MIN_SHARE
    assert strong_share <= STRONG_MAX_SHARE
    assert weak_result["summary"]["with_cue"]["stripes"]["top_k_share"]["stripes"] == pytest.approx(
        weak_share, abs=1e-4
    )


def test_the_json_holds_one_ranked_entry_per_image_of_the_class_with_provenance(demo_models_and_scenes, tmp_path):
    _, weak, scenes = demo_models_and_scenes
    result = explain(weak, tmp_path)
    stars = {im.filename for im in scenes.images.all() if "star" in im.labels}
    assert {e["image"] for e in result["images"]} == stars
    for entry in result["images"]:
        assert 1 <= len(entry["concepts"]) <= 3
        assert [set(c) >= {"name", "iou", "importance"} for c in entry["concepts"]] == [True] * len(entry["concepts"])
        importances = [c["importance"] for c in entry["concepts"]]
        assert importances == sorted(importances, reverse=True) and importances[-1] > 0
        assert entry["sentence"].startswith("The network's decision for star relies most on units that detect ")
    assert set(result["summary"]["top_k_share"]) <= set(CLASSES) | {"stripes"}
    assert result["provenance"]["model"]["weights_sha256"] == weak.weights_sha256
    assert result["provenance"]["image_set"]["name"] == IMAGE_SET_NAME

    # The dissection it rests on is stored once per (model, layer, probe set), and a rerun reuses both.
    dissection = ModelAnalysis.objects.get(kind=AnalysisKind.DISSECTION, model=weak)
    assert dissection.layer == "" and dissection.results["layer"] == weak.target_layer
    assert "stripes" in dissection.results["concepts"] and dissection.results["cue_concepts"] == ["stripes"]
    explain(weak, tmp_path)
    assert ModelAnalysis.objects.filter(model=weak).count() == 2


def test_the_command_refuses_a_class_the_model_does_not_have(demo_models_and_scenes):
    from django.core.management.base import CommandError

    _, weak, _ = demo_models_and_scenes
    with pytest.raises(CommandError, match="has no class 'hexagon'"):
        call_command("textual_explanations", "--model", weak.name, "--image-set", IMAGE_SET_NAME, "--class", "hexagon")
    assert not ModelAnalysis.objects.exists()
