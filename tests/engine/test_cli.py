"""The command line: methods listing, a round trip on a saved checkpoint and a .npy input, errors."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from explain_engine import METHODS, Explainer, load_model
from explain_engine.cli import main
from explain_engine.demo_nets import shapes_weak

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "w.pt"
    torch.save(shapes_weak(4).state_dict(), path)
    return str(path)


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "explain_engine", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_methods_lists_every_method():
    r = run("methods")
    assert r.returncode == 0
    for name in METHODS:
        assert name in r.stdout


def test_round_trip_checkpoint_and_npy(checkpoint, tmp_path):
    x = torch.rand(3, 128, 128, generator=torch.Generator().manual_seed(3))
    np.save(tmp_path / "x.npy", x.numpy())
    out = tmp_path / "out"
    r = run(
        "explain",
        "--arch",
        "shapes_weak",
        "--checkpoint",
        checkpoint,
        "--input",
        str(tmp_path / "x.npy"),
        "--target",
        "2",
        "--target",
        "0",
        "--method",
        "gradcam",
        "--method",
        "guided_backprop",
        "--method",
        "guided_gradcam",
        "--out",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    assert "top-5" in r.stdout and len([ln for ln in r.stdout.splitlines() if "logit" in ln]) == 4  # 4 classes
    maps = np.load(out / "maps.npz")
    assert sorted(maps.files) == ["gradcam", "guided_backprop", "guided_gradcam"]
    assert maps["gradcam"].shape == (2, 128, 128) and maps["gradcam"].dtype == np.float32
    assert maps["guided_backprop"].shape == (2, 3, 128, 128)
    bundle = load_model("shapes_weak", checkpoint=checkpoint)
    want = Explainer(bundle.module, bundle.target_layer).explain(x[None], [[2, 0]])
    for name in maps.files:
        np.testing.assert_allclose(maps[name], want[name][0].numpy(), rtol=1e-5, atol=1e-7)
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == sorted(f"{m}_{t}.png" for m in maps.files for t in (2, 0))
    assert Image.open(out / "gradcam_2.png").size == (128, 128)


def test_image_input_in_process(checkpoint, tmp_path, capsys):
    img = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)).save(img)
    assert (
        main(
            [
                "explain",
                "--arch",
                "shapes_weak",
                "--checkpoint",
                checkpoint,
                "--image",
                str(img),
                "--method",
                "gradcam",
                "--method",
                "deconvnet",
                "--style",
                "masked",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 0
    )
    assert "top-5" in capsys.readouterr().out
    maps = np.load(tmp_path / "o" / "maps.npz")
    assert maps["gradcam"].shape == (1, 128, 128) and maps["deconvnet"].shape == (1, 3, 128, 128)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--arch", "no_such_net", "--weights", "none", "--input", "X"], "unknown architecture"),
        (["--arch", "shapes_weak", "--checkpoint", "CKPT", "--image", "BAD"], "cannot read image"),
        (["--arch", "shapes_weak", "--checkpoint", "CKPT", "--input", "X", "--target", "9"], "out of range"),
        (["--arch", "shapes_weak", "--checkpoint", "CKPT", "--input", "X", "--method", "nope"], "unknown method"),
        (["--arch", "shapes_weak", "--checkpoint", "MISSING", "--input", "X"], "not found"),
    ],
)
def test_errors_print_one_line_and_fail(args, needle, checkpoint, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((3, 128, 128), np.float32))
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    subst = {
        "X": str(tmp_path / "x.npy"),
        "CKPT": checkpoint,
        "BAD": str(tmp_path / "bad.jpg"),
        "MISSING": str(tmp_path / "missing.pt"),
    }
    code = main(["explain", *[subst.get(a, a) for a in args], "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("error: ") and needle in err, err


def test_unsupported_activation_is_a_clean_error(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((3, 64, 64), np.float32))
    code = main(
        [
            "explain",
            "--arch",
            "mobilenet_v3_small",
            "--weights",
            "none",
            "--input",
            str(tmp_path / "x.npy"),
            "--method",
            "guided_backprop",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "Hardswish" in err and err.count("\n") == 1


def test_method_parameters_reach_the_engine_and_the_metadata(checkpoint, tmp_path):
    import json

    x = torch.rand(3, 128, 128, generator=torch.Generator().manual_seed(3))
    np.save(tmp_path / "x.npy", x.numpy())
    out = tmp_path / "out"
    argv = ["explain", "--arch", "shapes_weak", "--checkpoint", checkpoint, "--input", str(tmp_path / "x.npy")]
    argv += ["--method", "smoothgrad", "--method", "random", "--param", "smoothgrad.samples=3"]
    assert main([*argv, "--param", "random.seed=7", "--out", str(out)]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["params"]["smoothgrad"]["samples"] == 3
    assert meta["params"]["random"] == {"seed": 7}


@pytest.mark.parametrize("bad", ["smoothgrad.samples", "smoothgrad.sample=3", "random.seed=x"])
def test_bad_method_parameters_are_refused(checkpoint, tmp_path, capsys, bad):
    x = torch.rand(3, 128, 128)
    np.save(tmp_path / "x.npy", x.numpy())
    argv = ["explain", "--arch", "shapes_weak", "--checkpoint", checkpoint, "--input", str(tmp_path / "x.npy")]
    argv += ["--method", "smoothgrad", "--method", "random", "--param", bad, "--out", str(tmp_path / "o")]
    assert main(argv) == 1
    assert capsys.readouterr().err.startswith("error: ")
    assert not (tmp_path / "o").exists()
