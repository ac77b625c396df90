"""Dissection and textual explanations from neuron importance (explain_engine.dissect)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from explain_engine import Explainer
from explain_engine.demo_nets import DEMO_TARGET_LAYER, shapes_strong
from explain_engine.dissect import (
    Dissection,
    box_masks,
    channel_importance,
    conv_layers,
    dissect,
    explain_decision,
    layer_activations,
    sentence,
    top_k_shares,
)


def test_a_channel_that_fires_exactly_on_a_concept_has_iou_one_with_it():
    masks, acts = [], torch.zeros(4, 2, 8, 8)
    rng = np.random.default_rng(0)
    for i in range(4):
        square = np.zeros((8, 8), dtype=bool)
        y, x = rng.integers(0, 5, size=2)
        square[y : y + 3, x : x + 3] = True
        masks.append({"square": square, "other": ~square})
        acts[i, 0] = torch.from_numpy(square.astype(np.float32))  # fires on the square
        acts[i, 1] = torch.from_numpy((~square).astype(np.float32)) * (1 + i)  # fires elsewhere
    d = dissect(acts, masks, quantile=0.5)
    assert d.concepts == ["other", "square"]
    assert d.unit_name(0) == ("square", pytest.approx(1.0))
    assert d.unit_name(1)[0] == "other"
    assert Dissection.from_dict(d.as_dict()).ious == pytest.approx(d.ious)


def test_masks_may_be_finer_than_the_activation_maps():
    acts = torch.zeros(1, 1, 4, 4)
    acts[0, 0, :2, :2] = 1.0
    mask = np.zeros((16, 16), dtype=bool)
    mask[:8, :8] = True
    d = dissect(acts, [{"corner": mask}], quantile=0.7)
    assert d.unit_name(0)[0] == "corner" and d.ious[0, 0] > 0.5


def test_box_masks_cover_the_boxes_in_pixels():
    m = box_masks([("a", (1, 2, 4, 6)), ("a", (10, 10, 12, 12))], (16, 16))["a"]
    assert m.sum() == 3 * 4 + 2 * 2 and m[2, 1] and not m[6, 1]


def test_channel_importance_is_the_weight_vector_of_the_engines_gradcam():
    torch.manual_seed(0)
    net = shapes_strong(6).eval()
    x = torch.randn(3, 3, 128, 128)
    alpha, logits = channel_importance(net, DEMO_TARGET_LAYER, x, 2)
    acts = layer_activations(net, DEMO_TARGET_LAYER, x)
    cam = F.interpolate(torch.relu((alpha[:, :, None, None] * acts).sum(1))[:, None], size=(128, 128), mode="bilinear")[
        :, 0
    ]
    engine = Explainer(net, DEMO_TARGET_LAYER).explain(x, 2, methods=("gradcam",))
    assert torch.allclose(cam, engine["gradcam"][:, 0], atol=1e-5)
    assert torch.allclose(logits, engine.scores, atol=1e-5)
    assert all(p.grad is None for p in net.parameters())


def test_conv_layers_lists_every_convolution_in_order():
    assert conv_layers(shapes_strong(6)) == ["features.0", "features.4", "features.8", "features.11"]


def test_the_explanation_names_distinct_concepts_by_positive_importance():
    d = Dissection(
        layer="l",
        concepts=["star", "stripes"],
        quantile=0.99,
        thresholds=[0.0] * 5,
        ious=np.array([[0.3, 0.0], [0.0, 0.31], [0.2, 0.0], [0.01, 0.02], [0.0, 0.5]]),
        n_images=10,
    )
    ranked = explain_decision([0.5, 0.9, 0.4, 1.0, -2.0], d, top=3)
    # unit 3 is no detector (IoU under 0.04), unit 2 repeats "star", unit 4 has negative importance
    assert [(r["name"], r["unit"]) for r in ranked] == [("stripes", 1), ("star", 0)]
    assert sentence("star", ranked) == (
        "The network's decision for star relies most on units that detect stripes (IoU 0.31), star (0.30)."
    )
    assert top_k_shares([{"concepts": ranked}, {"concepts": ranked[:1]}]) == {"stripes": 1.0, "star": 0.5}


def test_wrong_shapes_are_refused():
    with pytest.raises(ValueError, match="mask sets for"):
        dissect(torch.zeros(2, 1, 4, 4), [{}])
    d = Dissection("l", ["a"], 0.99, [0.0], np.zeros((1, 1)), 1)
    with pytest.raises(ValueError, match="importances"):
        explain_decision([1.0, 2.0], d)
