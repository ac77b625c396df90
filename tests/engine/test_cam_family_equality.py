"""The CAM family equals pytorch-grad-cam's on torchvision CNNs with seeded random weights.

pytorch-grad-cam returns each map min-max normalized at the layer's resolution, then upsampled
(``scale_cam_image``); the engine keeps raw upsampled maps. Both are min-max normalized again before
the comparison (to 1e-4 of the maximum, 1), which makes them equal whatever the extremes the
upsampling reaches.

Where the reference differs on purpose, the test says how:
* DenseNet at features.norm5: DenseNet's forward applies ``F.relu(..., inplace=True)`` to that
  layer's output, which overwrites the activations pytorch-grad-cam keeps (it stores the tensor,
  not a copy), so its maps are computed from ReLU'd activations. The reference runs on a copy of
  the model whose norm5 hands a clone downstream, which is what the layer computed.
* EigenCAM: pytorch-grad-cam keeps the arbitrary sign LAPACK gives the principal component; the
  engine fixes it (the largest magnitude positive), as pytorch-grad-cam's own
  ``get_2d_projection_with_sign_correction`` does, which is the reference used here.
* Ablation-CAM: pytorch-grad-cam sets an ablated channel to 0 when the layer's minimum is 0 (every
  ReLU output, tested here); for layers with negative values it writes min - 1e7, then min - 2e7 for
  the next image of its batch (it takes the minimum again after each write), which depends on its
  batch size. The engine uses one value, 0 by default as in the paper.
* Score-CAM: pytorch-grad-cam upsamples the masks with align_corners=True; the engine's default is
  the authors' align_corners=False, so the test passes ``align_corners=True``.
"""

import warnings
from copy import deepcopy

import numpy as np
import pytest
import torch
import torchvision
from pytorch_grad_cam import (
    AblationCAM,
    FullGrad,
    GradCAM,
    GradCAMElementWise,
    HiResCAM,
    LayerCAM,
    ScoreCAM,
    XGradCAM,
)
from pytorch_grad_cam.utils.image import scale_cam_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection_with_sign_correction

from explain_engine import Explainer
from explain_engine.layers import get_module

ARCHS = ("vgg16", "resnet50", "densenet121")
SINGLE_PASS = {
    "gradcam": GradCAM,
    "hirescam": HiResCAM,
    "xgradcam": XGradCAM,
    "layercam": LayerCAM,
    "gradcam_elementwise": GradCAMElementWise,
}


def normalized(m) -> np.ndarray:
    m = torch.as_tensor(np.asarray(m, dtype=np.float32))
    m = m - m.amin((-2, -1), keepdim=True)
    return (m / m.amax((-2, -1), keepdim=True)).numpy()


def close(ours, ref, what):
    """Equal after min-max normalizing each map, to 1e-4."""
    assert np.ptp(np.asarray(ref)) > 0, f"{what}: degenerate reference map"
    err = np.abs(normalized(ours) - normalized(ref)).max()
    assert err <= 1e-4, f"{what}: max error {err}"


class _Clone(torch.nn.Module):
    def forward(self, x):
        return x.clone()


def reference_model(model, name):
    """A copy of ``model`` whose layer ``name`` hands a clone downstream, so that an in-place op
    after it cannot overwrite what pytorch-grad-cam stored; returns the copy and its layer."""
    copy = deepcopy(model)
    parent_name, _, child = name.rpartition(".")
    parent = get_module(copy, parent_name) if parent_name else copy
    layer = getattr(parent, child)
    setattr(parent, child, torch.nn.Sequential(layer, _Clone()))
    return copy, layer


def model_and_input(arch, size, n=2):
    torch.manual_seed(0)
    model = torchvision.models.get_model(arch, weights=None).eval()
    x = torch.randn(n, 3, size, size)
    with torch.no_grad():
        targets = model(x).topk(2, 1).indices  # two classes per image: one call explains both
    return model, x, targets


def reference(cls, model, layer, x, targets, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with cls(model=model, target_layers=[layer] if layer is not None else [], **kwargs) as cam:
            return cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in targets])


@pytest.mark.parametrize("arch", ARCHS)
def test_single_forward_cam_family_matches_pytorch_grad_cam(arch):
    model, x, targets = model_and_input(arch, 64, n=1)
    ex = Explainer(model)
    out = ex.explain(x, targets, methods=(*SINGLE_PASS, "eigencam"))
    ref_model, layer = reference_model(model, ex.target_layer)
    for name, cls in SINGLE_PASS.items():
        for k in range(targets.shape[1]):
            ref = reference(cls, ref_model, layer, x, targets[:, k])
            close(out[name][:, k], ref, f"{name} target {k}")
    store = []
    handle = get_module(model, ex.target_layer).register_forward_hook(lambda m, i, o: store.append(o.detach().clone()))
    with torch.no_grad():
        model(x)
    handle.remove()
    projection = np.maximum(get_2d_projection_with_sign_correction(store[0].numpy()), 0)
    close(out["eigencam"][:, 0], scale_cam_image(projection, (64, 64)), "eigencam")
    # Eigen-CAM does not depend on the class
    assert torch.equal(out["eigencam"][:, 0], out["eigencam"][:, 1])


# An early ReLU layer of 64 channels keeps one forward pass per channel affordable in a test.
PERTURBATION_LAYERS = {"vgg16": "features.3", "resnet50": "relu", "densenet121": "features.relu0"}


@pytest.mark.parametrize("arch", ARCHS)
def test_perturbation_cams_match_pytorch_grad_cam(arch):
    model, x, targets = model_and_input(arch, 32, n=1)
    name = PERTURBATION_LAYERS[arch]
    out = Explainer(model, name).explain(
        x,
        targets[:, :1],
        methods=("scorecam", "ablationcam"),
        params={"scorecam": {"align_corners": True, "batch_size": 64}, "ablationcam": {"batch_size": 64}},
    )
    layer = get_module(model, name)
    ref_score = reference(ScoreCAM, model, layer, x, targets[:, 0])
    close(out["scorecam"][:, 0], ref_score, "scorecam")
    ref_ablation = reference(AblationCAM, model, layer, x, targets[:, 0], batch_size=64)
    close(out["ablationcam"][:, 0], ref_ablation, "ablationcam")


@pytest.mark.parametrize("arch", ARCHS)
def test_fullgrad_matches_pytorch_grad_cam(arch):
    model, x, targets = model_and_input(arch, 64, n=1)
    out = Explainer(model).explain(x, targets, methods=("fullgrad",))
    for k in range(targets.shape[1]):
        close(out["fullgrad"][:, k], reference(FullGrad, model, None, x, targets[:, k]), f"target {k}")
