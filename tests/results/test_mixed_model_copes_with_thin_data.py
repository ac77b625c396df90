"""Thin or lopsided data give a clear entry per method, never an exception or a NaN."""

import math

import pandas as pd

from studies.results.mixed_effects import fit_accuracy_model


def frame(rows):
    return pd.DataFrame(rows, columns=["participant", "image", "method", "correct"])


def test_no_answers_is_an_error_entry():
    assert "error" in fit_accuracy_model(frame([]), ["gradcam"])
    unscored = frame([("p1", "a.png", "gradcam", None), ("p2", "b.png", "gradcam", None)])
    assert fit_accuracy_model(unscored, ["gradcam"])["responses"] == 0


def test_a_method_without_answers_gets_an_error_and_the_others_a_fit():
    rows = [(f"p{i % 6}", f"img{i % 5}", "gradcam", i % 3 != 0) for i in range(60)]
    fit = fit_accuracy_model(frame(rows), ["gradcam", "guided_backprop"])
    assert fit["methods"]["guided_backprop"] == {"error": "no scored answers"}
    assert 0 < fit["methods"]["gradcam"]["ci_low"] < fit["methods"]["gradcam"]["ci_high"] < 1


def test_one_participant_leaves_only_the_image_effect():
    rows = [("p1", f"img{i % 8}", ("gradcam", "deconvnet")[i % 2], i % 3 != 0) for i in range(48)]
    fit = fit_accuracy_model(frame(rows))
    assert fit["random_effects"] == ["image"]
    assert fit["sd_participant"] is None and fit["sd_image"] > 0
    assert set(fit["methods"]) == {"deconvnet", "gradcam"}


def test_one_participant_on_one_image_cannot_be_modelled():
    rows = [("p1", "img.png", "gradcam", i % 2 == 0) for i in range(10)]
    assert fit_accuracy_model(frame(rows))["error"] == "needs at least two participants or two images"


def test_answers_that_are_all_right_cannot_be_modelled():
    rows = [(f"p{i % 4}", f"img{i % 3}", ("gradcam", "deconvnet")[i % 2], True) for i in range(12)]
    fit = fit_accuracy_model(frame(rows))
    assert fit["error"] == "every answer has the same outcome: no variation to model"


def test_a_method_everyone_gets_right_stays_finite():
    rows = [(f"p{i % 10}", f"img{i % 6}", "gradcam", True) for i in range(60)]
    rows += [(f"p{i % 10}", f"img{i % 6}", "deconvnet", i % 2 == 0) for i in range(60)]
    fit = fit_accuracy_model(frame(rows))
    perfect = fit["methods"]["gradcam"]
    assert all(math.isfinite(perfect[k]) for k in ("logit", "logit_se", "accuracy", "ci_low", "ci_high"))
    assert perfect["accuracy"] > 0.9 and perfect["ci_high"] < 1.0
