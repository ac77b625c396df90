"""Benchmark: Grad-CAM + Guided Backprop + Guided Grad-CAM, this engine vs captum vs pytorch-grad-cam;
then every method, beside pytorch-grad-cam, torchcam and captum where they have it.

    .venv/bin/python bench/engine.py [--reps 11] [--archs vgg16,resnet50] [--ks 1,2] [--size 224]
                                     [--device cpu] [--batch 1] [--threads 2]
                                     [--method-reps 3] [--methods all] [--perturbation-batch 32]
    .venv/bin/python bench/engine.py --quick     # a smoke run: VGG-16 at 32 x 32, one repetition

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
os.environ.setdefault("TQDM_DISABLE", "1")  # the peers' progress bars (tqdm >= 4.66)

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


# ----------------------------------------------------------------------- every method
#: the single-forward CAM family, requested together in one call
CAM_FAMILY = ("gradcam", "gradcam_pp", "hirescam", "xgradcam", "layercam", "gradcam_elementwise", "eigencam")


def pgc_runner(method, batch_size):
    """pytorch-grad-cam's implementation of ``method`` as fn(model, layer_name, x, targets), or None."""
    import pytorch_grad_cam as pgc
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    classes = {
        "gradcam": pgc.GradCAM,
        "gradcam_pp": pgc.GradCAMPlusPlus,
        "hirescam": pgc.HiResCAM,
        "xgradcam": pgc.XGradCAM,
        "layercam": pgc.LayerCAM,
        "gradcam_elementwise": pgc.GradCAMElementWise,
        "eigencam": pgc.EigenCAM,
        "scorecam": pgc.ScoreCAM,
        "ablationcam": pgc.AblationCAM,
        "fullgrad": pgc.FullGrad,
    }
    if method not in classes:
        return None

    def run(model, layer_name, x, targets):
        layers = [] if method == "fullgrad" else [get_module(model, layer_name)]
        options = {"batch_size": batch_size} if method == "ablationcam" else {}
        with classes[method](model=model, target_layers=layers, **options) as cam:
            cam.batch_size = batch_size  # ScoreCAM reads it as an attribute
            cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in targets[:, 0]])
        model.zero_grad(set_to_none=True)

    return run


def torchcam_runner(method, batch_size):
    """torchcam's implementation of ``method``, or None (also when torchcam is not installed)."""
    try:
        import torchcam.methods as tc
    except ImportError:
        return None
    classes = {
        "gradcam": tc.GradCAM,
        "gradcam_pp": tc.GradCAMpp,
        "xgradcam": tc.XGradCAM,
        "layercam": tc.LayerCAM,
        "scorecam": tc.ScoreCAM,
    }
    if method not in classes:
        return None

    def run(model, layer_name, x, targets):
        options = {"batch_size": batch_size} if method == "scorecam" else {}
        with classes[method](model, target_layer=layer_name, input_shape=tuple(x.shape[1:]), **options) as extractor:
            scores = model(x)
            extractor(targets[:, 0].tolist(), scores)
        model.zero_grad(set_to_none=True)

    return run


def captum_runner(method, batch_size):
    """captum's implementation of a gradient baseline, or None."""
    from captum.attr import InputXGradient, IntegratedGradients, NoiseTunnel, Saliency

    def run(model, layer_name, x, targets):
        t = targets[:, 0]
        if method == "saliency":
            Saliency(model).attribute(x, target=t)
        elif method == "input_x_gradient":
            InputXGradient(model).attribute(x, target=t)
        elif method == "integrated_gradients":
            IntegratedGradients(model).attribute(x, target=t, n_steps=50, internal_batch_size=batch_size)
        else:
            NoiseTunnel(Saliency(model)).attribute(
                x, nt_type="smoothgrad", nt_samples=50, nt_samples_batch_size=batch_size, stdevs=0.15, target=t
            )
        model.zero_grad(set_to_none=True)

    known = ("saliency", "input_x_gradient", "integrated_gradients", "smoothgrad")
    return run if method in known else None


def method_table(args, device):
    """Seconds per image of every method on each architecture (one target class), beside the peers."""
    import torchvision

    from explain_engine import METHODS

    names = list(METHODS) if args.methods == "all" else args.methods.split(",")
    batch_size = args.perturbation_batch
    params = {m: {"batch_size": batch_size} for m in names if "batch_size" in METHODS[m].defaults}
    print()
    print(
        f"Every method, {args.size}x{args.size}, batch {args.batch}, one target class, median of "
        f"{args.method_reps} runs; perturbation and sampling batch {batch_size}; seconds per image"
    )
    header = [
        "arch",
        "method",
        "engine",
        "pytorch-grad-cam",
        "torchcam",
        "captum",
        "best peer/engine",
        "engine/gradcam",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for arch in args.archs.split(","):
        torch.manual_seed(0)
        model = torchvision.models.get_model(arch, weights=None).eval().to(device)
        layer = family_target_layer(model)
        x = torch.randn(args.batch, 3, args.size, args.size, device=device)
        targets = torch.stack([torch.tensor([1 + i]) for i in range(args.batch)]).to(device)
        ex = Explainer(model, layer)
        timed = {}
        rows = [(m, (m,)) for m in names] + [("CAM family together", CAM_FAMILY)]
        for label, methods in rows:
            if not set(methods) <= set(METHODS):
                continue
            chosen = {m: p for m, p in params.items() if m in methods}
            calls = {
                "engine": lambda e=ex, xx=x, t=targets, ms=methods, p=chosen: e.explain(xx, t, methods=ms, params=p)
            }
            if len(methods) == 1:
                for peer, make in (("pgc", pgc_runner), ("torchcam", torchcam_runner), ("captum", captum_runner)):
                    fn = make(methods[0], batch_size)
                    if fn is not None:
                        peer_model = copy.deepcopy(model)
                        calls[peer] = lambda f=fn, m=peer_model, la=layer, xx=x, t=targets: f(m, la, xx, t)
            else:
                calls["floor"] = lambda m=model, la=layer, xx=x, t=targets: floor(m, la, xx, t)
                # gradcam alone again, interleaved with the family: the ratio is then free of the drift
                # between rows measured minutes apart
                calls["gradcam alone"] = lambda e=ex, xx=x, t=targets: e.explain(xx, t, methods=("gradcam",))
            res = {n: t / args.batch for n, t in timeit_interleaved(calls, args.method_reps, device).items()}
            timed[label] = res["engine"]
            peers = [res[p] for p in ("pgc", "torchcam", "captum") if p in res]
            row = [arch, label, f"{res['engine']:.4f}"]
            row += [f"{res[p]:.4f}" if p in res else "" for p in ("pgc", "torchcam", "captum")]
            row.append(f"{min(peers) / res['engine']:.2f}x" if peers else "")
            row.append(f"{res['engine'] / timed['gradcam']:.2f}x" if "gradcam" in timed else "")
            print("| " + " | ".join(row) + " |", flush=True)
            if "floor" in res:
                print(f"  {label}: {res['engine'] / res['floor']:.2f}x the autograd floor ({res['floor']:.4f} s)")
                print(
                    f"  {label}: {res['engine'] / res['gradcam alone']:.2f}x gradcam alone, timed interleaved "
                    f"({res['gradcam alone']:.4f} s)"
                )


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
    ap.add_argument("--methods", default="all", help="methods of the per-method table ('all', or comma-separated)")
    ap.add_argument("--method-reps", type=int, default=3, help="repetitions per method (perturbation methods are slow)")
    ap.add_argument("--perturbation-batch", type=int, default=32, help="batch size of Score-CAM, Ablation-CAM, IG...")
    ap.add_argument("--no-triple", action="store_true", help="only the per-method table")
    ap.add_argument("--quick", action="store_true", help="a smoke run: VGG-16 at 32 x 32, one repetition, K=1")
    args = ap.parse_args(argv)
    if args.quick:
        args.reps, args.method_reps, args.archs, args.size, args.ks = 1, 1, "vgg16", 32, "1"
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    device = torch.device(args.device)
    if device.type == "cuda":
        print(f"GPU: {torch.cuda.get_device_name(device)}, CUDA {torch.version.cuda}")
    runners = [r for r in args.only.split(",") if r]
    if not args.no_triple:
        triple_table(args, device, runners)
    method_table(args, device)


def triple_table(args, device, runners):
    import torchvision

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
