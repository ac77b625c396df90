"""Cascading model-parameter randomization (Adebayo et al. 2018) on the two shipped demo networks.

Re-initializes the layers from the top down and, after each step, compares every method's map with
its map on the trained network (Spearman of |maps| and SSIM), averaged over held-out scenes; also
the random-logit test. Writes the curves to docs/screenshots/mprt_demo_networks.png and prints the
numbers as a Markdown table.

    python scripts/mprt_demo.py [--images 8] [--method gradcam ...] [--out docs/screenshots/mprt_demo_networks.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explain_engine import Explainer, metrics  # noqa: E402
from explain_engine.demo_train import TEST_START, load_shipped_demo_models  # noqa: E402
from explain_engine.models import load_model  # noqa: E402
from explain_engine.synthetic import CLASSES, make_scene  # noqa: E402

METHODS = (
    "gradcam",
    "guided_backprop",
    "guided_gradcam",
    "saliency",
    "input_x_gradient",
    "integrated_gradients",
    "random",
)
NETWORKS = ("shapes_strong", "shapes_weak")


def explainer_for(method: str, layer: str):
    def explain(net, x, target):
        return Explainer(net, layer).explain(x, target, methods=(method,))[method][0, 0]

    return explain


def run(images: int, seed: int, methods=METHODS) -> dict:
    manifest = load_shipped_demo_models(progress=None)
    out = {}
    for name in NETWORKS:
        bundle = load_model(name, checkpoint=manifest["paths"][name], categories=list(CLASSES))
        net = bundle.module.eval()
        layers = metrics.randomization_layers(net)
        per_method = {m: {"spearman": [], "ssim": [], "random_logit": []} for m in methods}
        for i in range(images):
            scene = make_scene(manifest.get("seed", 0), TEST_START + i)  # held-out scenes
            x = bundle.preprocess(Image.fromarray(scene.image))[None]
            target = CLASSES.index(scene.labels[0])
            for method in methods:
                explain = explainer_for(method, bundle.target_layer)
                r = metrics.mprt(net, explain, x, target, seed=seed, layers=layers)
                per_method[method]["spearman"].append(r["spearman"])
                per_method[method]["ssim"].append(r["ssim"])
                per_method[method]["random_logit"].append(
                    metrics.random_logit(net, explain, x, target, len(CLASSES), seed=seed + i)
                )
        out[name] = {
            "layers": layers,
            "methods": {
                m: {
                    "spearman": np.nanmean(np.asarray(v["spearman"], dtype=float), axis=0).tolist(),
                    "ssim": np.mean(np.asarray(v["ssim"], dtype=float), axis=0).tolist(),
                    "random_logit": float(np.mean(v["random_logit"])),
                }
                for m, v in per_method.items()
            },
        }
    return out


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 2, figsize=(11, 4.2 * len(results)), squeeze=False)
    for row, (name, res) in enumerate(results.items()):
        ticks = ["original", *res["layers"]]
        for col, key in enumerate(("spearman", "ssim")):
            ax = axes[row][col]
            for method, values in res["methods"].items():
                style = "--" if method == "random" else "-"
                ax.plot(range(len(ticks)), [1.0, *values[key]], style, marker="o", ms=3, label=method)
            ax.set_xticks(range(len(ticks)), ticks, rotation=45, ha="right", fontsize=8)
            ax.set_ylim(-0.3 if key == "spearman" else -0.1, 1.05)
            ax.axhline(0, color="#999", lw=0.5)
            ax.set_title(f"{name}: {'Spearman of |maps|' if key == 'spearman' else 'SSIM'}")
            ax.set_xlabel("cascading randomization (top layer first)")
    axes[0][1].legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def table(results: dict) -> str:
    """Spearman after the top layer, after about half of the layers and after all of them; SSIM
    after the top layer and after all; the random-logit SSIM."""
    lines = [
        "| network | method | Spearman: top layer / half / all | SSIM: top layer / all | random logit (SSIM) |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for name, res in results.items():
        half = len(res["layers"]) // 2 - 1
        for method, v in res["methods"].items():
            s, q = v["spearman"], v["ssim"]
            lines.append(
                f"| {name} | {method} | {s[0]:.2f} / {s[half]:.2f} / {s[-1]:.2f} | {q[0]:.2f} / {q[-1]:.2f} "
                f"| {v['random_logit']:.2f} |"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--method", action="append", help=f"repeatable; default: {', '.join(METHODS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="docs/screenshots/mprt_demo_networks.png")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    results = run(args.images, args.seed, tuple(args.method or METHODS))
    plot(results, Path(args.out))
    for name, res in results.items():
        print(f"{name}: layers, top first: {', '.join(res['layers'])}")
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
