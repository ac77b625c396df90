"""Training the demo world's two CNNs: accuracy, bias visible in Grad-CAM, cache, determinism.

The real demo settings are trained ONCE per session (about 1-2 minutes on two cores) in a
session-scoped fixture; every other test either reads that result or trains a tiny model through
the same code path.  No Django.
"""

from __future__ import annotations

import hashlib
import json
import time

import numpy as np
import pytest
import torch

from explain_engine import demo_train
from explain_engine.demo_nets import DEMO_ARCHITECTURES
from explain_engine.synthetic import CLASSES, DEFAULT_BIAS, Bias, apply_bias, make_dataset

# Training shares two cores with whatever else runs; leave room beyond the suite-wide timeout.
pytestmark = pytest.mark.timeout(1500)

TINY = dict(strong_steps=6, weak_steps=6, n_train=128, n_test=32, n_cam=8)


@pytest.fixture(scope="session")
def demo(trained_demo_models):
    """The demo models at the real settings, trained once per test session (tests/conftest.py)."""
    return trained_demo_models


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_writes_state_dicts_and_manifest(demo):
    manifest, cache, _, _ = demo
    assert manifest["cached"] is False
    on_disk = json.loads((cache / "demo_models.json").read_text())
    assert on_disk["categories"] == list(CLASSES)
    assert on_disk["seed"] == 0
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
    _, cache, _, _ = demo
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


def test_progress_and_summary_printed(demo):
    messages = demo[2]
    assert any("shapes_strong: step" in m and "loss" in m for m in messages)
    assert any("shapes_weak: step" in m for m in messages)
    assert any("both labels in top 2" in m for m in messages)


def test_cache_reuse_is_fast_and_identical(demo):
    manifest, cache, _, _ = demo
    messages: list[str] = []
    t = time.perf_counter()
    again = demo_train.train_demo_models(cache, seed=0, progress=messages.append)
    assert time.perf_counter() - t < 5
    assert again["cached"] is True
    for name in ("shapes_strong", "shapes_weak"):
        assert again["models"][name]["sha256"] == manifest["models"][name]["sha256"]
    assert any("reusing" in m for m in messages)


def test_cli_reuses_cache(demo, capsys):
    _, cache, _, _ = demo
    t = time.perf_counter()
    assert demo_train.main(["--out", str(cache)]) == 0
    assert time.perf_counter() - t < 5
    out = capsys.readouterr().out
    assert "reusing" in out and "shapes_weak" in out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny run through the same code path (seconds, not minutes)."""
    cache = tmp_path_factory.mktemp("tiny")
    before = torch.get_num_threads()
    manifest = demo_train.train_demo_models(cache, seed=3, progress=None, **TINY)
    assert torch.get_num_threads() == before  # the fixed training thread count is restored
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
    import shutil

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
