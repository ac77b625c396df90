"""Train the demo world's two networks on the CPU, deterministically, with a cache.

``shapes_strong`` (16-32-64-128) learns the unbiased synthetic world;
``shapes_weak`` (8-16-32-32) learns a *biased copy* of the same scenes, in which
a patch of diagonal stripes in the background goes with one class (see
``synthetic.Bias``).  The weak network is therefore weaker on unbiased scenes
and less trustworthy in a way Grad-CAM shows: for the biased class its map
points at the stripes, not at the object (the Grad-CAM paper's doctor/nurse
bias experiment in miniature).  Both are measured here and the numbers are
written to ``demo_models.json``.

The trained networks ship with the code (``explain_engine/demo_weights/``), so the demo and the
tests load them instead of training: :func:`load_shipped_demo_models` checks their sha256 and
refuses weights made by another recipe.  Training stays available, and is bit-identical for the
recorded seed and thread count::

    python -m explain_engine.demo_train --out var/demo_models [--seed 0] [--force]
    python -m explain_engine.demo_train --out explain_engine/demo_weights --force   # re-ship

A second call with the same seed and settings reuses the cached files.
This module imports nothing from Django.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import synthetic
from .demo_nets import DEMO_MEAN, DEMO_STD, DEMO_TARGET_LAYER, STRONG_WIDTHS, WEAK_WIDTHS, ShapesNet
from .models import file_sha256
from .synthetic import CLASSES, DEFAULT_BIAS, Bias

__all__ = [
    "DemoWeightsError",
    "MANIFEST_NAME",
    "RECIPE_VERSION",
    "SHIPPED_DIR",
    "MEAN",
    "STD",
    "default_settings",
    "load_shipped_demo_models",
    "train_demo_models",
    "preprocess",
    "grad_cam",
    "main",
]

MANIFEST_NAME = "demo_models.json"
MANIFEST_FORMAT = 1
#: Bump with any change to the training recipe; the shipped weights must then be retrained.
RECIPE_VERSION = 1
#: The trained networks shipped with the code.
SHIPPED_DIR = Path(__file__).resolve().with_name("demo_weights")
SEED = 0
RETRAIN_HINT = (
    f"retrain them with `python -m explain_engine.demo_train --out {SHIPPED_DIR} --force` and commit the new "
    "files, or build the demo from freshly trained networks with `python manage.py demo --retrain`"
)
#: Input normalisation of both networks (ImageNet statistics, the platform's default).
MEAN = DEMO_MEAN
STD = DEMO_STD
#: Thread count during training: weights are bit-identical only for a fixed count.
TRAIN_THREADS = 2
#: Numerics pinned for training, read by torch, oneDNN and MKL when the process starts. Unpinned,
#: each dispatches to the widest instructions the CPU has (AVX-512 on one machine, AVX2 on another)
#: and the weights differ from machine to machine; pinned to AVX2 code paths, with MKL's strict
#: conditional numerical reproducibility, they are the same on any x86-64 CPU with AVX2.
PINNED_NUMERICS = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2,STRICT"}
#: Test scenes start at this index, far away from the training indices.
TEST_START = 10_000_000


def default_settings(
    *,
    strong_steps: int = 1000,
    weak_steps: int = 800,
    n_train: int = 6000,
    n_test: int = 500,
    n_cam: int = 200,
    batch: int = 64,
    bias: Bias | str | dict | None = DEFAULT_BIAS,
) -> dict:
    """The full recipe; its hash decides whether a cache can be reused."""
    bias = synthetic._coerce_bias(bias) or DEFAULT_BIAS
    return {
        "recipe_version": RECIPE_VERSION,
        "generator_version": synthetic.GENERATOR_VERSION,
        "classes": list(CLASSES),
        "n_train": int(n_train),
        "n_test": int(n_test),
        "n_cam": int(n_cam),
        "test_start": TEST_START,
        "batch": int(batch),
        "threads": TRAIN_THREADS,
        "numerics": dict(PINNED_NUMERICS),
        "augment": "random horizontal and vertical flips",
        "optimizer": "AdamW",
        "schedule": "linear warmup 5% then cosine decay to 0",
        "loss": "BCEWithLogits (multi-label)",
        "mean": list(MEAN),
        "std": list(STD),
        "bias": bias.as_dict(),
        "models": {
            "shapes_strong": {
                "widths": list(STRONG_WIDTHS),
                "steps": int(strong_steps),
                "lr": 6e-3,
                "weight_decay": 1e-4,
                "data": "unbiased",
            },
            "shapes_weak": {
                "widths": list(WEAK_WIDTHS),
                "steps": int(weak_steps),
                "lr": 4e-3,
                "weight_decay": 1e-4,
                "data": "biased",
            },
        },
    }


def _settings_key(seed: int, settings: dict) -> str:
    blob = json.dumps({"seed": int(seed), "settings": settings}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def preprocess(images_nhwc_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> normalised float (N, 3, H, W) in channels_last memory."""
    x = images_nhwc_uint8.permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


# ---------------------------------------------------------------------------
# Training


def _lr_factor(step: int, total: int) -> float:
    warm = max(1, total // 20)
    if step < warm:
        return (step + 1) / warm
    return 0.5 * (1.0 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def _train_one(
    name: str, images: np.ndarray, targets: np.ndarray, cfg: dict, batch: int, seed: int, tag: int, progress
) -> tuple[ShapesNet, dict]:
    torch.manual_seed(seed * 1009 + tag)
    model = ShapesNet(len(CLASSES), tuple(cfg["widths"])).to(memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    rng = np.random.default_rng([seed, tag, 7])
    imgs_t = torch.from_numpy(images)
    tgts_t = torch.from_numpy(targets)
    n = len(images)
    steps = cfg["steps"]
    order = rng.permutation(n)
    pos = 0
    t0 = last = time.perf_counter()
    running = None
    for step in range(steps):
        if pos + batch > n:
            order, pos = rng.permutation(n), 0
        idx = torch.from_numpy(order[pos : pos + batch])
        pos += batch
        flips = torch.from_numpy(rng.random((2, batch)) < 0.5)
        x = preprocess(imgs_t[idx])
        x = torch.where(flips[0].view(-1, 1, 1, 1), x.flip(3), x)
        x = torch.where(flips[1].view(-1, 1, 1, 1), x.flip(2), x)
        y = tgts_t[idx]
        for group in opt.param_groups:
            group["lr"] = cfg["lr"] * _lr_factor(step, steps)
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = float(loss.detach())
        running = value if running is None else 0.9 * running + 0.1 * value
        now = time.perf_counter()
        if now - last >= 5.0 or step == steps - 1:
            progress(f"  {name}: step {step + 1}/{steps}  loss {running:.4f}  ({now - t0:.0f} s)")
            last = now
    model.eval()
    return model, {"seconds": round(time.perf_counter() - t0, 1), "final_loss": round(running, 4)}


@torch.no_grad()
def _logits(model: ShapesNet, images: np.ndarray, chunk: int = 250) -> torch.Tensor:
    model.eval()
    out = [model(preprocess(torch.from_numpy(images[i : i + chunk]))) for i in range(0, len(images), chunk)]
    return torch.cat(out)


def _accuracy(logits: torch.Tensor, targets: np.ndarray) -> dict:
    t = torch.from_numpy(targets) > 0.5
    top2 = logits.topk(2, dim=1).indices
    both = t.gather(1, top2).all(dim=1)
    top1 = t.gather(1, logits.argmax(1, keepdim=True)).squeeze(1)
    return {"both_in_top2": round(float(both.float().mean()), 4), "top1": round(float(top1.float().mean()), 4)}


def _per_class_recall(logits: torch.Tensor, targets: np.ndarray) -> dict:
    """Per class: share of scenes with the class where it is in the top 2."""
    t = torch.from_numpy(targets) > 0.5
    top2 = torch.zeros_like(t)
    top2.scatter_(1, logits.topk(2, dim=1).indices, True)
    out = {}
    for k, name in enumerate(CLASSES):
        has = t[:, k]
        out[name] = round(float((top2[:, k] & has).sum() / has.sum().clamp(min=1)), 4)
    return out


# ---------------------------------------------------------------------------
# Grad-CAM by hand (kept independent of the engine's Explainer on purpose)


def grad_cam(model: ShapesNet, images: np.ndarray, class_idx, layer: str = DEMO_TARGET_LAYER) -> torch.Tensor:
    """Grad-CAM maps (N, H, W) for uint8 images (N, H, W, 3) and one class index per image."""
    module = dict(model.named_modules())[layer]
    saved = {}

    def hook(_m, _inp, out):
        saved["act"] = out.clone()  # clone: an in-place ReLU must not overwrite it
        return saved["act"]

    handle = module.register_forward_hook(hook)
    try:
        model.eval()
        x = preprocess(torch.from_numpy(images))
        with torch.enable_grad():
            logits = model(x)
            cls = torch.as_tensor(class_idx, dtype=torch.long).view(-1, 1)
            score = logits.gather(1, cls).sum()
            act = saved["act"]
            (grads,) = torch.autograd.grad(score, act)
        weights = grads.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * act.detach()).sum(dim=1, keepdim=True))
        cam = F.interpolate(cam, size=images.shape[1:3], mode="bilinear", align_corners=False)
        return cam[:, 0].detach()
    finally:
        handle.remove()


def _mass_in(cam: torch.Tensor, box) -> float:
    x0, y0, x1, y1 = box
    total = float(cam.sum())
    return float(cam[y0:y1, x0:x1].sum()) / total if total > 0 else 0.0


def _cam_report(models: dict, test_scenes: list, bias: Bias, n_cam: int) -> dict:
    """Share of Grad-CAM mass inside the true object's box (and inside the cue)."""
    label_k = CLASSES.index(bias.label)
    scenes = test_scenes[:n_cam]
    imgs = np.stack([s.image for s in scenes])
    report = {"n_scenes": len(scenes)}
    # Unbiased scenes: each scene's two labels, mass in that label's box.
    for name, model in models.items():
        masses = []
        for j in range(2):
            cls = [CLASSES.index(s.labels[j]) for s in scenes]
            cams = grad_cam(model, imgs, cls)
            masses += [_mass_in(c, s.boxes[s.labels[j]]) for c, s in zip(cams, scenes)]
        report.setdefault("unbiased_mass_in_box", {})[name] = round(float(np.mean(masses)), 4)
    areas = [(b[2] - b[0]) * (b[3] - b[1]) / synthetic.SIZE**2 for s in scenes for b in s.boxes.values()]
    report["mean_box_area_fraction"] = round(float(np.mean(areas)), 4)
    # Scenes of the biased class with the cue drawn in: where does the map for that class go?
    cued = [synthetic.apply_bias(s, Bias(bias.label, 1.0, 0.0, bias.cue)) for s in scenes if bias.label in s.labels]
    cued = [s for s in cued if s.cue_box is not None]
    report["cue_scenes"] = len(cued)
    if cued:
        cimgs = np.stack([s.image for s in cued])
        for name, model in models.items():
            cams = grad_cam(model, cimgs, [label_k] * len(cued))
            report.setdefault("cue_scenes_mass_in_box", {})[name] = round(
                float(np.mean([_mass_in(c, s.boxes[bias.label]) for c, s in zip(cams, cued)])), 4
            )
            report.setdefault("cue_scenes_mass_in_cue", {})[name] = round(
                float(np.mean([_mass_in(c, s.cue_box) for c, s in zip(cams, cued)])), 4
            )
    return report


# ---------------------------------------------------------------------------
# The cache


def _load_cached(cache_dir: Path, key: str) -> dict | None:
    path = cache_dir / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("format") != MANIFEST_FORMAT or manifest.get("settings_key") != key:
        return None
    return None if _first_damaged_file(manifest, cache_dir) else manifest


def _first_damaged_file(manifest: dict, directory: Path) -> tuple[Path, str, str] | None:
    """(path, actual sha256, recorded sha256) of the first weight file that differs from its record."""
    for info in manifest.get("models", {}).values():
        path = directory / info["file"]
        actual = file_sha256(path) if path.is_file() else "missing"
        if actual != info["sha256"]:
            return path, actual, info["sha256"]
    return None


class DemoWeightsError(RuntimeError):
    """The shipped demo weights are missing, damaged, or made by another recipe."""


def load_shipped_demo_models(directory=SHIPPED_DIR, progress=print) -> dict:
    """The shipped demo networks' manifest (as :func:`train_demo_models` returns it), verified.

    Refuses, with a message that says how to retrain, weights whose recipe differs from the code's
    or whose sha256 differs from the one recorded when they were trained.
    """
    if progress is None:
        progress = lambda *_a, **_k: None  # noqa: E731
    directory = Path(directory)
    try:
        manifest = json.loads((directory / MANIFEST_NAME).read_text())
    except (OSError, ValueError) as exc:
        raise DemoWeightsError(f"no readable demo weights in {directory} ({exc}); {RETRAIN_HINT}") from exc
    shipped_version = manifest.get("settings", {}).get("recipe_version")
    if shipped_version != RECIPE_VERSION:
        raise DemoWeightsError(
            f"the demo weights in {directory} were trained with recipe version {shipped_version}, but the code's "
            f"recipe is version {RECIPE_VERSION}; {RETRAIN_HINT}"
        )
    seed = manifest.get("seed", SEED)
    if manifest.get("format") != MANIFEST_FORMAT or manifest.get("settings_key") != _settings_key(
        seed, default_settings()
    ):
        raise DemoWeightsError(
            f"the demo weights in {directory} were trained with other settings than the code's recipe version "
            f"{RECIPE_VERSION} (was the recipe changed without bumping RECIPE_VERSION?); {RETRAIN_HINT}"
        )
    damaged = _first_damaged_file(manifest, directory)
    if damaged:
        path, actual, recorded = damaged
        raise DemoWeightsError(
            f"{path} does not hold the recorded demo weights (sha256 {actual[:12]}, recorded {recorded[:12]}); "
            f"restore it from the repository, or {RETRAIN_HINT}"
        )
    progress(f"Demo models: the shipped networks in {directory} (seed {seed}, recipe version {RECIPE_VERSION}).")
    _print_summary(manifest, progress)
    return _with_paths(manifest, directory, cached=True)


def _atomic_write_bytes(path: Path, write) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


def train_demo_models(cache_dir, seed: int = SEED, progress=print, *, force: bool = False, **settings) -> dict:
    """Train (or reuse) ``shapes_strong`` and ``shapes_weak``; return the manifest.

    Writes ``shapes_strong.pt``, ``shapes_weak.pt`` (state dicts of plain
    tensors, loadable with ``torch.load(..., weights_only=True)``) and
    ``demo_models.json`` into ``cache_dir``.  Keyword settings (``strong_steps``,
    ``weak_steps``, ``n_train``, ``n_test``, ``n_cam``, ``batch``, ``bias``) are
    those of :func:`default_settings`.  The returned dict is the manifest plus
    ``"cached"`` (bool) and ``"paths"`` (name -> absolute path).
    """
    if progress is None:
        progress = lambda *_a, **_k: None  # noqa: E731
    cache_dir = Path(cache_dir)
    cfg = default_settings(**settings)
    key = _settings_key(seed, cfg)
    if not force:
        cached = _load_cached(cache_dir, key)
        if cached is not None:
            progress(f"Demo models: reusing {cache_dir} (seed {seed}).")
            _print_summary(cached, progress)
            return _with_paths(cached, cache_dir, cached=True)

    cache_dir.mkdir(parents=True, exist_ok=True)
    if not numerics_pinned():
        return _train_in_pinned_process(cache_dir, seed, progress, settings)
    bias = Bias(**cfg["bias"])
    prev_threads = torch.get_num_threads()
    t_start = time.perf_counter()
    try:
        torch.set_num_threads(TRAIN_THREADS)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)

        progress(f"Demo world: generating {cfg['n_train']} training and {cfg['n_test']} test scenes (seed {seed}) ...")
        t0 = time.perf_counter()
        train_imgs, train_tgts, train_scenes = synthetic.make_dataset(cfg["n_train"], seed)
        test_imgs, test_tgts, test_scenes = synthetic.make_dataset(cfg["n_test"], seed, start=TEST_START)
        progress(f"  generated in {time.perf_counter() - t0:.1f} s")

        models, info = {}, {}
        mcfg = cfg["models"]["shapes_strong"]
        progress(f"Training shapes_strong ({mcfg['steps']} steps, unbiased data) ...")
        models["shapes_strong"], info["shapes_strong"] = _train_one(
            "shapes_strong", train_imgs, train_tgts, mcfg, cfg["batch"], seed, 1, progress
        )

        mcfg = cfg["models"]["shapes_weak"]
        progress(f"Training shapes_weak ({mcfg['steps']} steps, biased copy: stripes go with {bias.label!r}) ...")
        biased_imgs = np.stack([synthetic.apply_bias(s, bias).image for s in train_scenes])
        del train_imgs
        models["shapes_weak"], info["shapes_weak"] = _train_one(
            "shapes_weak", biased_imgs, train_tgts, mcfg, cfg["batch"], seed, 2, progress
        )
        del biased_imgs

        progress("Evaluating on unbiased test scenes and measuring Grad-CAM ...")
        biased_test = np.stack([synthetic.apply_bias(s, bias).image for s in test_scenes])
        for name, model in models.items():
            logits = _logits(model, test_imgs)
            info[name]["accuracy"] = _accuracy(logits, test_tgts)
            info[name]["recall_top2_per_class"] = _per_class_recall(logits, test_tgts)
            info[name]["accuracy_biased_test"] = _accuracy(_logits(model, biased_test), test_tgts)
        cam = _cam_report(models, test_scenes, bias, cfg["n_cam"])

        manifest = {
            "format": MANIFEST_FORMAT,
            "seed": int(seed),
            "settings_key": key,
            "settings": cfg,
            "categories": list(CLASSES),
            "target_layer": DEMO_TARGET_LAYER,
            "preprocessing": {"size": synthetic.SIZE, "scale": "1/255", "mean": list(MEAN), "std": list(STD)},
            "torch_version": torch.__version__,
            "trained_on": _platform(),
            "models": {},
            "grad_cam": cam,
        }
        for name, model in models.items():
            path = cache_dir / f"{name}.pt"
            state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
            _atomic_write_bytes(path, lambda p, s=state: torch.save(s, p))
            manifest["models"][name] = {
                "arch": name,
                "file": path.name,
                "sha256": file_sha256(path),
                "params": sum(p.numel() for p in model.parameters()),
                "steps": cfg["models"][name]["steps"],
                "data": cfg["models"][name]["data"],
                **info[name],
            }
        manifest["seconds"] = round(time.perf_counter() - t_start, 1)
        _atomic_write_bytes(
            cache_dir / MANIFEST_NAME, lambda p: p.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        )
    finally:
        torch.set_num_threads(prev_threads)
    _print_summary(manifest, progress)
    return _with_paths(manifest, cache_dir, cached=False)


def _platform() -> dict:
    """Where the weights were trained (provenance; the pinned numerics make it not matter)."""
    import platform

    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"machine": platform.machine(), "cpu": cpu, "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def numerics_pinned() -> bool:
    """Whether this process started with the pinned numerics (they cannot be set once torch is loaded)."""
    return all(os.environ.get(k) == v for k, v in PINNED_NUMERICS.items())


def _train_in_pinned_process(cache_dir: Path, seed: int, progress, settings: dict) -> dict:
    """Train in a child process started with the pinned numerics, relaying its progress lines."""
    import subprocess

    if settings.get("bias") is not None:
        settings = dict(settings, bias=synthetic._coerce_bias(settings["bias"]).as_dict())
    command = [sys.executable, "-m", "explain_engine.demo_train", "--out", str(cache_dir), "--seed", str(seed)]
    command += ["--force", "--settings", json.dumps(settings)]
    env = {**os.environ, **PINNED_NUMERICS, "PYTHONUNBUFFERED": "1"}
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as child:
        lines = []
        for line in child.stdout:
            lines.append(line.rstrip("\n"))
            if not line.startswith("{"):
                progress(lines[-1])
    if child.returncode != 0:
        raise RuntimeError("training the demo networks failed:\n" + "\n".join(lines[-20:]))
    manifest = json.loads((cache_dir / MANIFEST_NAME).read_text())
    return _with_paths(manifest, cache_dir, cached=False)


def _with_paths(manifest: dict, cache_dir: Path, cached: bool) -> dict:
    out = dict(manifest)
    out["cached"] = cached
    out["paths"] = {name: str((cache_dir / info["file"]).resolve()) for name, info in manifest["models"].items()}
    return out


def _print_summary(manifest: dict, progress) -> None:
    for name, info in manifest["models"].items():
        acc = info["accuracy"]
        progress(
            f"  {name}: both labels in top 2 {acc['both_in_top2']:.1%}, top-1 correct {acc['top1']:.1%} "
            f"(unbiased test scenes; {info['steps']} steps, {info['seconds']} s)"
        )
    cam = manifest.get("grad_cam", {})
    if "unbiased_mass_in_box" in cam:
        parts = ", ".join(f"{k} {v:.1%}" for k, v in cam["unbiased_mass_in_box"].items())
        progress(f"  Grad-CAM mass inside the true box: {parts}")
    if "cue_scenes_mass_in_cue" in cam:
        label = manifest["settings"]["bias"]["label"]
        parts = ", ".join(f"{k} {v:.1%}" for k, v in cam["cue_scenes_mass_in_cue"].items())
        progress(f"  Grad-CAM mass for {label!r} on the stripes cue: {parts}")
    if "seconds" in manifest:
        progress(f"  total {manifest['seconds']} s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m explain_engine.demo_train", description="Train (or reuse) the demo world's two CNNs on the CPU."
    )
    parser.add_argument("--out", default="var/demo_models", help="cache directory (default var/demo_models)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--strong-steps", type=int, default=None)
    parser.add_argument("--weak-steps", type=int, default=None)
    parser.add_argument("--force", action="store_true", help="retrain even if the cache matches")
    parser.add_argument("--settings", default="", help="other recipe settings as JSON (see default_settings)")
    args = parser.parse_args(argv)
    kwargs = json.loads(args.settings) if args.settings else {}
    if args.strong_steps is not None:
        kwargs["strong_steps"] = args.strong_steps
    if args.weak_steps is not None:
        kwargs["weak_steps"] = args.weak_steps
    manifest = train_demo_models(
        args.out, seed=args.seed, force=args.force, progress=lambda msg: print(msg, flush=True), **kwargs
    )
    print(json.dumps({k: manifest["models"][k]["accuracy"] for k in manifest["models"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
