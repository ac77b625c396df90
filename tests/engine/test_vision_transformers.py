"""Grad-CAM and the CAM family on torchvision's vit_b_16 and swin_t (random weights, one image;
the ViT built for 96 x 96 inputs, a 6 x 6 patch grid, to keep the test fast):
the target layer is found automatically, token outputs become a grid, the maps equal
pytorch-grad-cam's with its documented ``reshape_transform`` on the same layer, and the methods
that need ReLU networks refuse clearly."""

import warnings

import numpy as np
import pytest
import torch
import torchvision
from pytorch_grad_cam import GradCAM, GradCAMElementWise, HiResCAM, LayerCAM, XGradCAM
from pytorch_grad_cam.utils.image import scale_cam_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection_with_sign_correction

from explain_engine import Explainer, UnsupportedActivationError
from explain_engine.layers import get_module

from .test_cam_family_equality import close

FAMILY = {
    "gradcam": GradCAM,
    "hirescam": HiResCAM,
    "xgradcam": XGradCAM,
    "layercam": LayerCAM,
    "gradcam_elementwise": GradCAMElementWise,
}


def vit_reshape(tensor, height=6, width=6):
    # pytorch-grad-cam's documented reshape_transform for vision transformers (class token dropped)
    result = tensor[:, 1:, :].reshape(tensor.size(0), height, width, tensor.size(2))
    return result.transpose(2, 3).transpose(1, 2)


def swin_reshape(tensor):
    # torchvision's Swin keeps its maps channels-last: (N, h, w, C)
    return tensor.permute(0, 3, 1, 2)


CASES = {
    "vit_b_16": ("encoder.layers.encoder_layer_11.ln_1", 96, vit_reshape),
    "swin_t": ("norm", 64, swin_reshape),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    arch = request.param
    layer, size, reshape = CASES[arch]
    torch.manual_seed(0)
    options = {"image_size": size} if arch == "vit_b_16" else {}
    model = torchvision.models.get_model(arch, weights=None, **options).eval()
    if arch == "vit_b_16":  # torchvision starts the ViT head at zero: every gradient would be zero
        torch.nn.init.normal_(model.heads.head.weight, std=0.02)
    x = torch.randn(1, 3, size, size)
    return arch, model, x, layer, reshape


def test_cam_family_on_transformers_matches_pytorch_grad_cam(case):
    arch, model, x, layer_name, reshape = case
    with torch.no_grad():
        top = model(x).topk(2, 1).indices[0].tolist()
    ex = Explainer(model)
    out = ex.explain(x, [top], methods=(*FAMILY, "eigencam"))
    assert ex.target_layer == layer_name
    size = x.shape[-1]
    assert out["gradcam"].shape == (1, 2, size, size)
    layer = get_module(model, layer_name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, cls in FAMILY.items():
            for k, t in enumerate(top):
                with cls(model=model, target_layers=[layer], reshape_transform=reshape) as cam:
                    ref = cam(input_tensor=x, targets=[ClassifierOutputTarget(t)])
                close(out[name][:, k], ref, f"{arch} {name} class {t}")
    store = []
    handle = layer.register_forward_hook(lambda m, i, o: store.append(reshape(o.detach()).clone()))
    with torch.no_grad():
        model(x)
    handle.remove()
    projection = np.maximum(get_2d_projection_with_sign_correction(store[0].numpy()), 0)
    close(out["eigencam"][:, 0], scale_cam_image(projection, (size, size)), f"{arch} eigencam")


@pytest.mark.parametrize("method", ["guided_backprop", "guided_gradcam", "deconvnet", "fullgrad"])
def test_methods_for_relu_networks_refuse_transformers(case, method):
    arch, model, x, _, _ = case
    with pytest.raises(UnsupportedActivationError, match="GELU|LayerNorm"):
        Explainer(model).explain(x, 3, methods=(method,))
