"""Equality with captum on torchvision CNNs with seeded random weights (to 1e-4 of the map's max)."""

import warnings

import pytest
import torch
import torchvision
from captum.attr import Deconvolution, GuidedBackprop, LayerAttribution, LayerGradCam

from explain_engine import Explainer
from explain_engine.layers import get_module

SIZE = 96


def close(ours, ref):
    scale = ref.abs().max().item()
    assert scale > 0, "degenerate reference map"
    err = (ours - ref).abs().max().item()
    assert err <= 1e-4 * scale, f"max error {err} vs scale {scale}"


@pytest.mark.parametrize("arch,layer", [("vgg16", "features.29"), ("alexnet", "features.11"), ("resnet18", "layer4.1")])
def test_matches_captum(arch, layer):
    torch.manual_seed(0)
    model = torchvision.models.get_model(arch, weights=None).eval()
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        top = model(x).topk(2, 1).indices[0].tolist()
    ex = Explainer(model)
    assert ex.target_layer == layer
    out = ex.explain(x, [top], methods=("gradcam", "guided_backprop", "deconvnet", "guided_gradcam", "deconv_gradcam"))
    module = get_module(model, layer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, t in enumerate(top):
            cam = LayerGradCam(model, module).attribute(x, target=t, relu_attributions=True)
            cam = LayerAttribution.interpolate(cam, (SIZE, SIZE), "bilinear")[:, 0]
            gb = GuidedBackprop(model).attribute(x, target=t)
            dc = Deconvolution(model).attribute(x, target=t)
            close(out["gradcam"][:, k], cam)
            close(out["guided_backprop"][:, k], gb)
            close(out["deconvnet"][:, k], dc)
            close(out["guided_gradcam"][:, k], gb * cam[:, None])
            close(out["deconv_gradcam"][:, k], dc * cam[:, None])
