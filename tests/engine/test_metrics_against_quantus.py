"""The automatic metrics equal Quantus' (a test oracle) on fixed inputs with the same parameters.

Quantus' ROAD and faithfulness correlation index the flattened input's elements, which are pixels
only for a one-channel image, so those two are compared on one-channel inputs (see the docstrings
of ``road_curve`` and ``faithfulness_correlation``)."""

import numpy as np
import pytest
import torch
from torch import nn

quantus = pytest.importorskip("quantus")

from explain_engine.metrics import (  # noqa: E402
    energy_pointing_game,
    faithfulness_correlation,
    gini,
    noisy_linear_imputation,
    random_logit,
    road_curve,
    ssim,
)

SIDE = 16


def small_cnn(channels=1, classes=4):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(channels, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32, classes),
    ).eval()


def fixed_input(channels=1):
    return torch.from_numpy(np.random.default_rng(1).random((1, channels, SIDE, SIDE)).astype(np.float32))


def distinct_map():
    # A permutation: no ties, so Quantus' unstable argsort ranks as ours does.
    return np.random.default_rng(2).permutation(SIDE * SIDE).reshape(SIDE, SIDE).astype(np.float64) / (SIDE * SIDE)


def test_noisy_linear_imputation_equals_quantus_without_noise():
    from quantus.functions.perturb_func import noisy_linear_imputation as theirs

    image = np.random.default_rng(3).random((3, SIDE, SIDE))
    mask = np.random.default_rng(4).random((SIDE, SIDE)) < 0.4
    mask[0, :] = True  # a masked border row, where the neighbours are fewer
    ours = noisy_linear_imputation(image, mask, noise=0.0)
    want = theirs(image, np.flatnonzero(mask.ravel()), noise=0.0)
    np.testing.assert_allclose(ours, want, atol=1e-10)
    assert np.array_equal(ours[:, ~mask], image[:, ~mask])


def test_road_most_relevant_first_equals_quantus_road():
    model, x, a = small_cnn(), fixed_input(), distinct_map()
    y = int(model(x).argmax())
    percentages = [5, 20, 40, 60, 80, 95]
    metric = quantus.ROAD(percentages=percentages, noise=0.0, disable_warnings=True)
    want = metric(model=model, x_batch=x.numpy(), y_batch=np.array([y]), a_batch=a[None, None], device="cpu")
    ours = road_curve(model, x, y, a, percentages=percentages, noise=0.0, score="correct")
    assert ours.tolist() == [float(want[p]) for p in percentages]


def test_road_runs_least_relevant_first_too_and_its_noise_is_seeded():
    model, x = small_cnn(), fixed_input()
    y = int(model(x).argmax())
    occl = np.abs(np.random.default_rng(5).standard_normal((SIDE, SIDE)))
    morf = road_curve(model, x, y, occl, noise=0.0)
    lerf = road_curve(model, x, y, occl, most_relevant_first=False, noise=0.0)
    assert morf.shape == lerf.shape == (9,)
    # Seeded noise: the same call twice gives the same curve.
    assert np.array_equal(road_curve(model, x, y, occl, seed=3), road_curve(model, x, y, occl, seed=3))


def test_faithfulness_correlation_equals_quantus_on_a_one_channel_input():
    model, x, a = small_cnn(), fixed_input(), distinct_map()
    y = int(model(x).argmax())
    metric = quantus.FaithfulnessCorrelation(
        nr_runs=20, subset_size=30, perturb_baseline=0.0, return_aggregate=False, disable_warnings=True
    )
    np.random.seed(7)
    want = metric(
        model=model, x_batch=x.numpy(), y_batch=np.array([y]), a_batch=a[None, None], device="cpu", softmax=True
    )
    ours = faithfulness_correlation(model, x, y, a, runs=20, subset_size=30, baseline=0.0, seed=7)
    assert ours == pytest.approx(float(want[0]), abs=1e-5)


def test_energy_pointing_game_equals_quantus_relevance_mass_accuracy():
    a = distinct_map()
    box = (3, 5, 11, 9)
    mask = np.zeros((SIDE, SIDE), dtype=bool)
    mask[5:9, 3:11] = True
    metric = quantus.RelevanceMassAccuracy(disable_warnings=True)
    x = fixed_input()
    want = metric(
        model=small_cnn(), x_batch=x.numpy(), y_batch=np.array([0]), a_batch=a[None, None], s_batch=mask[None, None]
    )
    assert energy_pointing_game(a, box) == pytest.approx(float(want[0]), rel=1e-9)
    assert energy_pointing_game(a, mask) == pytest.approx(float(want[0]), rel=1e-9)


def test_gini_equals_quantus_sparseness():
    a = np.abs(np.random.default_rng(6).standard_normal((SIDE, SIDE)))
    metric = quantus.Sparseness(disable_warnings=True, normalise=False)
    x = fixed_input()
    want = metric(model=small_cnn(), x_batch=x.numpy(), y_batch=np.array([0]), a_batch=a[None, None])
    assert gini(a) == pytest.approx(float(want[0]), rel=1e-6)


def test_ssim_equals_scikit_image_as_quantus_calls_it():
    from quantus.functions.similarity_func import ssim as theirs

    rng = np.random.default_rng(8)
    a, b = rng.random((SIDE, SIDE)), rng.random((SIDE, SIDE))
    data_range = max(a.max(), b.max()) - min(a.min(), b.min())
    assert ssim(a, b, data_range=data_range) == pytest.approx(float(theirs(a, b)), abs=1e-9)


def test_random_logit_equals_quantus_with_its_class_draw_and_2d_ssim():
    model, x = small_cnn(channels=3, classes=5), fixed_input(channels=3)

    def explain(m, inp, target):
        inp = inp.clone().requires_grad_(True)
        m(inp)[0, target].backward()
        out = inp.grad[0].abs().sum(0)
        out[0, 0] = 0  # a zero, so that the pair's data range is 1 after dividing by the maximum
        return out.detach()

    def explain_func(model, inputs, targets, **kwargs):
        return np.stack(
            [explain(model, torch.from_numpy(i[None]), int(t)).numpy()[None] for i, t in zip(inputs, targets)]
        )

    def ssim_2d(a, b, batched=False, **kwargs):
        # Quantus' own SSIM, on the maps as images rather than flattened.
        return [quantus.ssim(aa.reshape(SIDE, SIDE), bb.reshape(SIDE, SIDE)) for aa, bb in zip(a, b)]

    for target, seed in [(1, 0), (3, 5), (0, 42)]:
        ours = random_logit(model, explain, x, target, num_classes=5, seed=seed)
        metric = quantus.RandomLogit(num_classes=5, seed=seed, similarity_func=ssim_2d, abs=True, disable_warnings=True)
        a = explain_func(model, x.numpy(), [target])
        want = metric(
            model=model,
            x_batch=x.numpy(),
            y_batch=np.array([target]),
            a_batch=a,
            explain_func=explain_func,
            device="cpu",
        )
        assert ours == pytest.approx(float(want[0]), abs=1e-6)
