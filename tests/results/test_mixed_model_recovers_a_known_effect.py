"""The crossed random-intercept model finds effects and variances that were put into simulated answers.

Participants x images, crossed: every participant answers trials on images drawn from a shared
pool, each trial with one of three methods. The truth is known: the methods' logits at a typical
participant and image, and the two random-effect SDs. Seeds are fixed, so the counts asserted
here are the same on every run.
"""

import numpy as np
import pandas as pd
import pytest

from studies.results.mixed_effects import fit_accuracy_model

LOGITS = {"deconvnet": -0.4, "guided_backprop": 0.4, "guided_gradcam": 1.4}
SD_PARTICIPANT, SD_IMAGE = 0.8, 1.0
SEEDS = range(10)


def simulate(seed, participants=40, images=30, trials=24, logits=LOGITS, sd_participant=SD_PARTICIPANT):
    rng = np.random.default_rng(seed)
    u = rng.normal(0, sd_participant, participants)
    v = rng.normal(0, SD_IMAGE, images)
    person = np.repeat(np.arange(participants), trials)
    image = rng.integers(0, images, size=person.size)
    names = np.array(list(logits))
    method = rng.integers(0, len(names), size=person.size)
    beta = np.array([logits[n] for n in names])
    eta = beta[method] + u[person] + v[image]
    correct = rng.random(person.size) < 1 / (1 + np.exp(-eta))
    return pd.DataFrame(
        {
            "participant": [f"p{i}" for i in person],
            "image": [f"img{i}.png" for i in image],
            "method": names[method],
            "correct": correct,
        }
    )


@pytest.fixture(scope="module")
def fits():
    return [fit_accuracy_model(simulate(seed), list(LOGITS)) for seed in SEEDS]


def test_each_methods_interval_holds_its_true_accuracy_in_most_seeds(fits):
    for name, logit in LOGITS.items():
        truth = 1 / (1 + np.exp(-logit))
        covered = sum(f["methods"][name]["ci_low"] <= truth <= f["methods"][name]["ci_high"] for f in fits)
        assert covered >= 8, (name, covered)
        # the interval is an interval around the estimate, on the probability scale
        for f in fits:
            m = f["methods"][name]
            assert 0 < m["ci_low"] < m["accuracy"] < m["ci_high"] < 1


def test_the_random_effect_sds_are_recovered(fits):
    participant = np.array([f["sd_participant"] for f in fits])
    image = np.array([f["sd_image"] for f in fits])
    assert participant.mean() == pytest.approx(SD_PARTICIPANT, abs=0.15)
    assert image.mean() == pytest.approx(SD_IMAGE, abs=0.15)
    assert all(0.3 < v < 2.0 for v in np.concatenate([participant, image]))
    assert all(f["random_effects"] == ["participant", "image"] and f["converged"] for f in fits)


def test_the_estimate_is_the_typical_participants_accuracy_not_the_pooled_one(fits):
    # With random effects the pooled accuracy is pulled toward one half: above it for a method whose
    # typical accuracy is above one half. The model's estimate must not show that attenuation.
    pooled, typical = [], []
    for seed, f in zip(SEEDS, fits, strict=True):
        df = simulate(seed)
        pooled.append(df[df["method"] == "guided_gradcam"]["correct"].mean())
        typical.append(f["methods"]["guided_gradcam"]["accuracy"])
    truth = 1 / (1 + np.exp(-LOGITS["guided_gradcam"]))
    assert np.mean(pooled) < truth - 0.03
    assert abs(np.mean(typical) - truth) < abs(np.mean(pooled) - truth)


def test_the_naive_wilson_interval_misses_what_the_model_catches():
    # Large image variance, one method: the Wilson interval of the pooled proportion is far too
    # narrow for the population's typical accuracy; the model's interval is wider.
    from studies.results.analysis import wilson_interval

    df = simulate(3, logits={"gradcam": 1.0})
    fit = fit_accuracy_model(df)["methods"]["gradcam"]
    low, high = wilson_interval(int(df["correct"].sum()), len(df))
    assert fit["ci_high"] - fit["ci_low"] > 1.5 * (high - low)


def test_the_same_answers_give_the_same_numbers():
    df = simulate(0)
    assert fit_accuracy_model(df) == fit_accuracy_model(df)
    shuffled = df.sample(frac=1.0, random_state=1)
    a, b = fit_accuracy_model(df), fit_accuracy_model(shuffled)
    for name in LOGITS:
        assert a["methods"][name]["accuracy"] == pytest.approx(b["methods"][name]["accuracy"], abs=1e-3)
