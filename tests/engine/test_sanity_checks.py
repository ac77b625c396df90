"""Sanity checks (cascading MPRT, Smooth-MPRT, random logit), SSIM and Gini sparseness."""

import numpy as np
import pytest
import torch
import torchvision

from explain_engine import Explainer
from explain_engine.metrics import gini, mprt, random_logit, randomization_layers, ssim


def test_ssim_is_one_for_equal_maps_and_lower_for_different_ones():
    rng = np.random.default_rng(0)
    a = rng.random((16, 16))
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, rng.random((16, 16))) < 0.5
    assert ssim(a, 1 - a) < 0


def test_ssim_matches_the_formula_on_a_constant_pair():
    a, b = np.full((9, 9), 0.2), np.full((9, 9), 0.6)
    c1 = 0.01**2
    want = (2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1)  # no variance: only the luminance term
    assert ssim(a, b) == pytest.approx(want)


def test_gini_is_zero_for_a_uniform_map_and_high_for_one_point():
    assert gini(np.ones((8, 8))) == pytest.approx(0.0, abs=1e-9)
    one = np.zeros((8, 8))
    one[3, 4] = 1.0
    assert gini(one) == pytest.approx(63 / 64, abs=1e-5)


def gradcam(model, x, target):
    return Explainer(model).explain(x, target, methods=("gradcam",))["gradcam"][0, 0]


def saliency(model, x, target):
    return Explainer(model).explain(x, target, methods=("saliency",))["saliency"][0, 0]


def test_cascading_randomization_changes_the_saliency_map_and_leaves_the_model_alone():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(1, 3, 64, 64)
    layers = randomization_layers(model)
    assert layers[0] == "fc" and layers[-1] == "conv1"
    out = mprt(model, saliency, x, 3, layers=layers[:3] + layers[-2:])
    assert len(out["spearman"]) == len(out["ssim"]) == 5
    assert out["spearman"][-1] < 0.5  # the fully randomized network explains differently
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    again = mprt(model, saliency, x, 3, layers=layers[:3] + layers[-2:])
    assert again["spearman"] == out["spearman"]  # seeded


def test_smooth_mprt_and_random_logit_run_seeded():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(1, 3, 64, 64)
    out = mprt(model, gradcam, x, 3, layers=["fc"], smooth_samples=2)
    assert out["smooth_samples"] == 2 and len(out["ssim"]) == 1
    score = random_logit(model, gradcam, x, 3, num_classes=1000)
    assert -1 <= score <= 1
    assert random_logit(model, gradcam, x, 3, num_classes=1000) == score


def test_recording_every_kth_step_gives_the_full_cascades_scores_at_those_steps():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(1, 3, 32, 32)
    layers = randomization_layers(model)[:5]
    full = mprt(model, saliency, x, 3, layers=layers)
    sparse = mprt(model, saliency, x, 3, layers=layers, record_every=2)
    assert sparse["layers"] == [layers[1], layers[3], layers[4]]  # every second one and the last
    assert sparse["spearman"] == [full["spearman"][i] for i in (1, 3, 4)]
    assert sparse["ssim"] == [full["ssim"][i] for i in (1, 3, 4)]
