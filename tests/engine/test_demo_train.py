"""The demo world's two CNNs: the shipped weights, their accuracy and bias, the cache, and bit-for-bit
reproducibility.

The trained networks ship in explain_engine/demo_weights; every test reads them except
``test_retraining_reproduces_the_shipped_weights_bit_for_bit``, the only one that trains them at
the real settings (about 1.5 minutes on two cores).  The cache rules are checked on a miniature
run (seconds) through the same code path.  No Django.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time

import numpy as np
import pytest
import torch

from explain_engine import demo_train
from explain_engine.demo_nets import DEMO_ARCHITECTURES
from explain_engine.synthetic import CLASSES, DEFAULT_BIAS, Bias, apply_bias, make_dataset

TINY = dict(strong_steps=6, weak_steps=6, n_train=128, n_test=32, n_cam=8)


@pytest.fixture(scope="session")
def demo(shipped_demo_models):
    """(manifest, directory) of the shipped demo networks."""
    return shipped_demo_models, demo_train.SHIPPED_DIR


@pytest.fixture
def shipped_copy(tmp_path):
    copy = tmp_path / "weights"
    shutil.copytree(demo_train.SHIPPED_DIR, copy)
    return copy


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_shipped_weights_are_state_dicts_with_their_manifest(demo):
    manifest, cache = demo
    on_disk = json.loads((cache / "demo_models.json").read_text())
    assert on_disk["categories"] == list(CLASSES)
    assert on_disk["seed"] == demo_train.SEED
    assert on_disk["settings"]["recipe_version"] == demo_train.RECIPE_VERSION
    assert on_disk["settings"]["threads"] == demo_train.TRAIN_THREADS
    assert on_disk["settings"]["numerics"] == demo_train.PINNED_NUMERICS
    assert on_disk["target_layer"] == "features.13"
    assert set(on_disk["models"]) == {"shapes_strong", "shapes_weak"}
    for name, info in on_disk["models"].items():
        path = cache / f"{name}.pt"
        assert info["file"] == path.name
        assert info["sha256"] == _sha(path)
        assert info["steps"] == on_disk["settings"]["models"][name]["steps"]
        state = torch.load(path, weights_only=True)
        assert all(isinstance(v, torch.Tensor) for v in state.values())
        model = DEMO_ARCHITECTURES[name](len(CLASSES))
        model.load_state_dict(state)  # strict: exactly the architecture's keys
        assert manifest["paths"][name] == str(path.resolve())
    # The real demo settings, not a shortcut.
    assert on_disk["settings"] == demo_train.default_settings()


def test_accuracies_in_accepted_range(demo):
    manifest = demo[0]
    strong = manifest["models"]["shapes_strong"]["accuracy"]
    weak = manifest["models"]["shapes_weak"]["accuracy"]
    assert strong["both_in_top2"] >= 0.85
    assert strong["top1"] >= 0.9
    # Clearly weaker on unbiased scenes ...
    assert weak["both_in_top2"] <= strong["both_in_top2"] - 0.2
    assert weak["top1"] < strong["top1"]
    # ... because it learned the shortcut: it almost never finds the biased class without its cue,
    assert manifest["models"]["shapes_weak"]["recall_top2_per_class"][DEFAULT_BIAS.label] < 0.5
    # and the cue makes it look much better.
    biased = manifest["models"]["shapes_weak"]["accuracy_biased_test"]
    assert biased["both_in_top2"] > weak["both_in_top2"] + 0.1


def test_weak_grad_cam_attends_to_the_cue(demo):
    cam = demo[0]["grad_cam"]
    assert cam["cue_scenes"] >= 20
    on_cue, in_box = cam["cue_scenes_mass_in_cue"], cam["cue_scenes_mass_in_box"]
    assert on_cue["shapes_weak"] > on_cue["shapes_strong"] + 0.05
    assert in_box["shapes_strong"] > in_box["shapes_weak"] + 0.1
    # Unbiased scenes: the strong network's maps sit on the objects, well above a uniform map.
    assert cam["unbiased_mass_in_box"]["shapes_strong"] > 3 * cam["mean_box_area_fraction"]


def test_grad_cam_recomputed_from_saved_weights(demo):
    """Independently of the manifest: load the files and look at the maps on fresh cued scenes."""
    _, cache = demo
    models = {}
    for name in ("shapes_strong", "shapes_weak"):
        m = DEMO_ARCHITECTURES[name](len(CLASSES))
        m.load_state_dict(torch.load(cache / f"{name}.pt", weights_only=True))
        models[name] = m.eval()
    bias = Bias(DEFAULT_BIAS.label, 1.0, 0.0)
    scenes = [s for s in make_dataset(120, seed=0, start=20_000_000)[2] if bias.label in s.labels]
    cued = [apply_bias(s, bias) for s in scenes]
    cued = [s for s in cued if s.cue_box is not None]
    imgs = np.stack([s.image for s in cued])
    k = CLASSES.index(bias.label)
    share = {}
    for name, model in models.items():
        cams = demo_train.grad_cam(model, imgs, [k] * len(cued))
        assert cams.shape == (len(cued), 128, 128)
        share[name] = np.mean([demo_train._mass_in(c, s.cue_box) for c, s in zip(cams, cued)])
    assert share["shapes_weak"] > share["shapes_strong"]
    # grad_cam left no hooks behind.
    for model in models.values():
        assert all(not m._forward_hooks for m in model.modules())


def test_loading_verifies_and_prints_the_summary(demo):
    messages: list[str] = []
    manifest = demo_train.load_shipped_demo_models(progress=messages.append)
    assert manifest["cached"] is True
    assert manifest["paths"]["shapes_weak"] == str((demo[1] / "shapes_weak.pt").resolve())
    assert any("shipped networks" in m for m in messages)
    assert any("both labels in top 2" in m for m in messages)


def test_a_damaged_weight_file_is_refused(shipped_copy):
    (shipped_copy / "shapes_weak.pt").write_bytes(b"junk")
    with pytest.raises(demo_train.DemoWeightsError, match="shapes_weak.pt does not hold the recorded demo weights"):
        demo_train.load_shipped_demo_models(shipped_copy, progress=None)


def test_a_missing_manifest_is_refused_with_the_retrain_command(tmp_path):
    with pytest.raises(demo_train.DemoWeightsError, match="python -m explain_engine.demo_train"):
        demo_train.load_shipped_demo_models(tmp_path, progress=None)


def test_a_changed_recipe_without_new_weights_is_refused(shipped_copy, monkeypatch):
    monkeypatch.setattr(demo_train, "RECIPE_VERSION", demo_train.RECIPE_VERSION + 1)
    with pytest.raises(demo_train.DemoWeightsError) as refused:
        demo_train.load_shipped_demo_models(shipped_copy, progress=None)
    message = str(refused.value)
    assert f"recipe version {demo_train.RECIPE_VERSION - 1}" in message
    assert "--force" in message and "manage.py demo --retrain" in message


def test_a_recipe_edited_without_a_version_bump_is_refused(shipped_copy, monkeypatch):
    edited = demo_train.default_settings(weak_steps=801)
    monkeypatch.setattr(demo_train, "default_settings", lambda: edited)
    with pytest.raises(demo_train.DemoWeightsError, match="other settings"):
        demo_train.load_shipped_demo_models(shipped_copy, progress=None)


def test_the_shipped_weights_are_a_valid_training_cache(shipped_copy):
    messages: list[str] = []
    t = time.perf_counter()
    again = demo_train.train_demo_models(shipped_copy, progress=messages.append)
    assert time.perf_counter() - t < 5
    assert again["cached"] is True
    assert any("reusing" in m for m in messages)


def test_cli_reuses_cache(shipped_copy, capsys):
    t = time.perf_counter()
    assert demo_train.main(["--out", str(shipped_copy)]) == 0
    assert time.perf_counter() - t < 5
    out = capsys.readouterr().out
    assert "reusing" in out and "shapes_weak" in out


@pytest.mark.timeout(1500)  # training shares two cores with whatever else runs
def test_retraining_reproduces_the_shipped_weights_bit_for_bit(demo, tmp_path):
    """The only test that trains the demo networks at the real settings (seed and thread count recorded)."""
    shipped, _ = demo
    messages: list[str] = []
    before = torch.get_num_threads()
    retrained = demo_train.train_demo_models(tmp_path, seed=shipped["seed"], progress=messages.append, force=True)
    assert torch.get_num_threads() == before  # the fixed training thread count is restored
    assert retrained["cached"] is False
    assert retrained["settings"]["threads"] == shipped["settings"]["threads"]
    for name in ("shapes_strong", "shapes_weak"):
        assert retrained["models"][name]["sha256"] == shipped["models"][name]["sha256"], name
        assert _sha(tmp_path / f"{name}.pt") == shipped["models"][name]["sha256"]
        assert retrained["models"][name]["accuracy"] == shipped["models"][name]["accuracy"]
    assert retrained["grad_cam"] == shipped["grad_cam"]
    assert any("shapes_strong: step" in m and "loss" in m for m in messages)
    assert any("shapes_weak: step" in m for m in messages)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny run through the same code path (seconds, not minutes)."""
    cache = tmp_path_factory.mktemp("tiny")
    before = torch.get_num_threads()
    manifest = demo_train.train_demo_models(cache, seed=3, progress=None, **TINY)
    assert torch.get_num_threads() == before
    return manifest, cache


def test_training_is_deterministic(tiny, tmp_path):
    a, _ = tiny
    b = demo_train.train_demo_models(tmp_path, seed=3, progress=None, **TINY)
    assert b["cached"] is False
    for name in ("shapes_strong", "shapes_weak"):
        assert a["models"][name]["sha256"] == b["models"][name]["sha256"]
    assert a["models"]["shapes_weak"]["accuracy"] == b["models"]["shapes_weak"]["accuracy"]
    assert a["grad_cam"] == b["grad_cam"]


def test_changed_settings_or_damaged_file_retrain(tiny, tmp_path):
    _, src = tiny
    cache = tmp_path / "cache"
    shutil.copytree(src, cache)
    assert demo_train.train_demo_models(cache, seed=3, progress=None, **TINY)["cached"] is True
    # Another seed or other settings: retrain.
    other = dict(TINY, weak_steps=TINY["weak_steps"] + 1)
    first = demo_train.train_demo_models(cache, seed=3, progress=None, **other)
    assert first["cached"] is False
    # A damaged weight file: retrain, and get the same bytes back.
    (cache / "shapes_strong.pt").write_bytes(b"junk")
    again = demo_train.train_demo_models(cache, seed=3, progress=None, **other)
    assert again["cached"] is False
    assert again["models"]["shapes_strong"]["sha256"] == first["models"]["shapes_strong"]["sha256"]
    assert _sha(cache / "shapes_strong.pt") == first["models"]["shapes_strong"]["sha256"]
