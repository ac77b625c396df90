"""Benchmark: Grad-CAM + Guided Backprop + Guided Grad-CAM, this engine vs captum vs pytorch-grad-cam.

    .venv/bin/python bench/engine.py [--reps 11] [--archs vgg16,resnet50] [--ks 1,2] [--size 224]
                                     [--device cpu] [--batch 1] [--threads 2]

Prints a table of the median seconds per image for the three maps, for each
architecture and number K of target classes per image, by: this engine; captum
as documented (LayerGradCam, GuidedBackprop, GuidedGradCam: three calls per
target); captum with the product reused (LayerGradCam + GuidedBackprop);
pytorch-grad-cam (GradCAM + GuidedBackpropReLUModel); and the floor (one forward
plus K backward passes to the input, parameters frozen). Random weights
(torch.manual_seed(0)); timing does not depend on the weights' values.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from explain_engine import Explainer  # noqa: E402
from explain_engine.layers import family_target_layer, get_module  # noqa: E402

THREE = ("gradcam", "guided_backprop", "guided_gradcam")


def engine(model, layer_name, x, targets):
    ex = Explainer(model, layer_name)
    return ex.explain(x, targets, methods=THREE)


def floor(model, layer_name, x, targets):
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        xg = x.detach().requires_grad_(True)
        scores = model(xg)
        k = targets.shape[1]
        for j in range(k):
            torch.autograd.grad(scores.gather(1, targets[:, j : j + 1]).sum(), xg, retain_graph=j < k - 1)
    finally:
        for p, f in zip(model.parameters(), flags):
            p.requires_grad_(f)


def captum_documented(model, layer_name, x, targets):
    from captum.attr import GuidedBackprop, GuidedGradCam, LayerAttribution, LayerGradCam

    layer = get_module(model, layer_name)
    for j in range(targets.shape[1]):
        t = targets[:, j]
        cam = LayerGradCam(model, layer).attribute(x, target=t, relu_attributions=True)
        LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), "bilinear")
        GuidedBackprop(model).attribute(x, target=t)
        GuidedGradCam(model, layer).attribute(x, target=t)


def captum_reused(model, layer_name, x, targets):
    from captum.attr import GuidedBackprop, LayerAttribution, LayerGradCam

    layer = get_module(model, layer_name)
    for j in range(targets.shape[1]):
        t = targets[:, j]
        cam = LayerGradCam(model, layer).attribute(x, target=t, relu_attributions=True)
        cam = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), "bilinear")
        gb = GuidedBackprop(model).attribute(x, target=t)
        gb * cam


def pytorch_grad_cam(model, layer_name, x, targets):
    from pytorch_grad_cam import GradCAM, GuidedBackpropReLUModel
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    layer = get_module(model, layer_name)
    # GuidedBackpropReLUModel leaves one shared nn.ReLU in place of all of its model's ReLUs, which
    # unhooks GradCAM's target layer on the next call: give it its own copy (made once, untimed after).
    if id(model) not in _GB_COPIES:
        _GB_COPIES[id(model)] = copy.deepcopy(model)
    for j in range(targets.shape[1]):
        with GradCAM(model=model, target_layers=[layer]) as cam:
            maps = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in targets[:, j]])
        gb_model = GuidedBackpropReLUModel(model=_GB_COPIES[id(model)], device=x.device)
        for i in range(x.shape[0]):
            gb = gb_model(x[i : i + 1], target_category=int(targets[i, j]))
            gb * maps[i][..., None]
    model.zero_grad(set_to_none=True)


_GB_COPIES: dict = {}

RUNNERS = {
    "engine": engine,
    "captum_documented": captum_documented,
    "captum_reused": captum_reused,
    "pytorch_grad_cam": pytorch_grad_cam,
    "floor": floor,
}


def timeit_interleaved(calls, reps, device):
    """Median seconds of each call; the runners alternate within every repetition so that
    a change in the machine's load affects them alike. The first round warms up."""
    times = {name: [] for name in calls}
    for r in range(reps + 1):
        for name, fn in calls.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if r:
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=11)
    ap.add_argument("--archs", default="vgg16,resnet50")
    ap.add_argument("--ks", default="1,2")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default=",".join(RUNNERS), help="comma-separated subset of " + ",".join(RUNNERS))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    import torchvision

    device = torch.device(args.device)
    runners = [r for r in args.only.split(",") if r]
    print(
        f"torch {torch.__version__}, {args.threads} threads, device {device}, {args.size}x{args.size}, "
        f"batch {args.batch}, median of {args.reps} runs; seconds per image"
    )
    header = ["arch", "K"] + runners
    if "floor" in runners and "engine" in runners:
        header += ["engine/floor"]
    if "engine" in runners and {"captum_documented", "captum_reused"} & set(runners):
        header += ["captum best/engine"]
    if "engine" in runners and "pytorch_grad_cam" in runners:
        header += ["pgc/engine"]
    if "floor" in runners and "pytorch_grad_cam" in runners:
        header += ["pgc/floor"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for arch in args.archs.split(","):
        torch.manual_seed(0)
        model = torchvision.models.get_model(arch, weights=None).eval().to(device)
        layer = family_target_layer(model)
        x = torch.randn(args.batch, 3, args.size, args.size, device=device)
        for k in (int(v) for v in args.ks.split(",")):
            targets = torch.stack([torch.arange(k) * 7 + 1 + i for i in range(args.batch)]).to(device)
            # each library gets its own copy: pytorch-grad-cam's GuidedBackpropReLUModel puts back one
            # shared, non-in-place nn.ReLU in place of all of the model's ReLUs.
            copies = {name: copy.deepcopy(model) for name in runners}
            calls = {
                name: (lambda f=RUNNERS[name], m=copies[name], la=layer, xx=x, t=targets: f(m, la, xx, t))
                for name in runners
            }
            res = {n: t / args.batch for n, t in timeit_interleaved(calls, args.reps, device).items()}
            del copies, calls
            row = [arch, str(k)] + [f"{res[n]:.3f}" for n in runners]
            if "engine/floor" in header:
                row.append(f"{res['engine'] / res['floor']:.2f}x")
            if "captum best/engine" in header:
                best = min(res[n] for n in ("captum_documented", "captum_reused") if n in res)
                row.append(f"{best / res['engine']:.2f}x")
            if "pgc/engine" in header:
                row.append(f"{res['pytorch_grad_cam'] / res['engine']:.2f}x")
            if "pgc/floor" in header:
                # the most any implementation bounded below by the floor could gain over pytorch-grad-cam
                row.append(f"{res['pytorch_grad_cam'] / res['floor']:.2f}x")
            print("| " + " | ".join(row) + " |", flush=True)
            if device.type == "cuda":
                print(f"  engine: {1.0 / res['engine']:.1f} images/s", flush=True)


if __name__ == "__main__":
    main()
