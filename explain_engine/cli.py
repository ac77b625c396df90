"""Command line: ``python -m explain_engine explain ...`` and ``python -m explain_engine methods``."""

from __future__ import annotations

import argparse
import json
import os
import sys

USAGE_EXAMPLE = (
    "python -m explain_engine explain --arch vgg16 --weights DEFAULT --image photo.jpg "
    "--target 243 --target 281 --method gradcam --method guided_backprop --out DIR"
)


class CLIError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m explain_engine", description="Grad-CAM, Guided Backprop, Guided Grad-CAM and kin for CNNs."
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("methods", help="list the explanation methods")
    e = sub.add_parser("explain", help="explain one image", epilog=USAGE_EXAMPLE)
    e.add_argument("--arch", required=True, help="torchvision classifier name or demo architecture")
    w = e.add_mutually_exclusive_group(required=True)
    w.add_argument("--weights", help="torchvision weights name (DEFAULT, IMAGENET1K_V1); 'none' for random (seed 0)")
    w.add_argument("--checkpoint", help="state-dict file (loaded with weights_only=True)")
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--image", help="a photograph (resized/normalized by the model's preprocessing)")
    src.add_argument("--input", help="a preprocessed (3, H, W) float32 .npy array, used exactly as it is")
    e.add_argument("--target", type=int, action="append", help="target class index (repeatable; default: top-1)")
    e.add_argument(
        "--method", action="append", help="method (repeatable; default: gradcam, guided_backprop, guided_gradcam)"
    )
    e.add_argument(
        "--param",
        action="append",
        metavar="METHOD.NAME=VALUE",
        help="a method's parameter, e.g. integrated_gradients.steps=32 (repeatable; see 'methods')",
    )
    e.add_argument("--out", required=True, help="output directory")
    e.add_argument("--device", default="cpu")
    e.add_argument("--target-layer", help="dotted module name (default: automatic)")
    e.add_argument("--num-classes", type=int, help="head size of a checkpoint with another head")
    e.add_argument(
        "--style",
        default="auto",
        choices=("auto", "overlay", "masked", "heatmap"),
        help="rendering of CAM maps (default: overlay)",
    )
    return p


def _photo_from_input(x):
    import numpy as np

    arr = x.detach().cpu().numpy().transpose(1, 2, 0).astype(np.float64)
    lo, hi = arr.min(), arr.max()
    arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    return np.clip(np.round(arr * 255), 0, 255).astype(np.uint8)


def parse_params(items) -> dict[str, dict]:
    """["scorecam.batch_size=64", ...] -> {"scorecam": {"batch_size": 64}}; values are JSON
    (numbers, true/false) or else strings; the engine checks names and types."""
    params: dict[str, dict] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        method, dot, name = key.partition(".")
        if not sep or not dot or not method or not name:
            raise CLIError(f"--param wants METHOD.NAME=VALUE, not {item!r}")
        try:
            value = json.loads(value)
        except ValueError:
            pass
        params.setdefault(method, {})[name] = value
    return params


def _explain(args) -> int:
    import numpy as np
    import torch
    from PIL import Image, UnidentifiedImageError

    from . import ENGINE_VERSION
    from .core import DEFAULT_METHODS, Explainer
    from .methods import METHODS, resolve_params
    from .models import load_model
    from .render import RECIPE_VERSION, render_stimulus

    methods = tuple(dict.fromkeys(args.method or DEFAULT_METHODS))
    for m in methods:
        if m not in METHODS:
            raise CLIError(f"unknown method {m!r}; known: {', '.join(METHODS)}")
    params = parse_params(args.param)
    resolve_params(methods, params)  # refuse bad parameters before loading the model
    weights = args.weights
    if weights is not None and weights.lower() in ("none", "random"):
        weights = None
        torch.manual_seed(0)
    bundle = load_model(
        args.arch, weights=weights, checkpoint=args.checkpoint, num_classes=args.num_classes, device=args.device
    )
    if args.image:
        try:
            img = Image.open(args.image)
            img.load()
        except (OSError, UnidentifiedImageError) as e:
            raise CLIError(f"cannot read image {args.image}: {e}") from None
        x = bundle.preprocess(img)
        photo = bundle.display(img)
    else:
        try:
            arr = np.load(args.input, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise CLIError(f"cannot read {args.input}: {e}") from None
        if arr.ndim != 3 or arr.shape[0] != 3 or not np.issubdtype(arr.dtype, np.floating):
            raise CLIError(f"{args.input} must hold a float (3, H, W) array, not {arr.dtype} {arr.shape}")
        x = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
        photo = _photo_from_input(x)
    layer = args.target_layer or bundle.target_layer
    ex = Explainer(bundle.module, layer)
    n_classes = len(bundle.categories)
    for t in args.target or []:
        if not 0 <= t < n_classes:
            raise CLIError(f"target {t} is out of range for {args.arch} with {n_classes} classes")
    targets = [args.target] if args.target else None
    out = ex.explain(x[None], targets, methods=methods, params=params)
    targets = out.targets[0].tolist()

    os.makedirs(args.out, exist_ok=True)
    maps = {m: out[m][0].cpu().numpy().astype(np.float32) for m in methods}
    np.savez(os.path.join(args.out, "maps.npz"), **maps)
    files = []
    for m in methods:
        for k, t in enumerate(targets):
            name = f"{m}_{t}.png"
            with open(os.path.join(args.out, name), "wb") as f:
                f.write(render_stimulus(m, photo, maps[m][k], args.style if METHODS[m].kind == "cam" else "auto"))
            files.append(name)
    scores = out.scores[0]
    probs = scores.softmax(0)
    top = scores.topk(min(5, scores.numel()))
    meta = {
        "engine_version": ENGINE_VERSION,
        "recipe_version": RECIPE_VERSION,
        "arch": args.arch,
        "weights_sha256": bundle.weights_sha256,
        "target_layer": out.target_layer,
        "targets": targets,
        "methods": list(methods),
        "params": out.params,
        "input_shape": list(x.shape),
        "files": files,
        "top5": [
            {
                "index": int(i),
                "category": bundle.categories[int(i)],
                "logit": float(scores[i]),
                "softmax": float(probs[i]),
            }
            for i in top.indices
        ],
    }
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
    print(f"top-5 predictions ({args.arch}, target layer {out.target_layer}):")
    for rank, row in enumerate(meta["top5"], 1):
        print(f"  {rank}. {row['index']:>5}  {row['category']:<30} logit {row['logit']:9.4f}  p {row['softmax']:.4f}")
    print(f"wrote {os.path.join(args.out, 'maps.npz')} and {len(files)} PNG files")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "methods":
        from .methods import METHODS

        width = max(len(n) for n in METHODS)
        for name, m in METHODS.items():
            print(f"{name:<{width}}  [{m.kind}]  {m.description}")
            if m.defaults:
                options = ", ".join(f"{k}={v}" for k, v in m.defaults.items())
                print(f"{'':<{width}}  parameters: {options}")
        return 0
    try:
        return _explain(args)
    except CLIError as e:
        msg = str(e)
    except (ValueError, FileNotFoundError, OSError, KeyError, RuntimeError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    print(f"error: {msg}", file=sys.stderr)
    return 1
