"""load_model: torchvision and demo architectures, checkpoints, hashes, preprocessing; target layers."""

import hashlib

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from explain_engine import ENGINE_VERSION, METHODS, Explainer, load_model
from explain_engine.demo_nets import DEMO_MEAN, DEMO_STD, DEMO_TARGET_LAYER, shapes_weak
from explain_engine.layers import detect_by_tracing, family_target_layer


def test_registry_and_version():
    assert set(METHODS) >= {
        "gradcam",
        "gradcam_pp",
        "counterfactual_gradcam",
        "guided_backprop",
        "deconvnet",
        "guided_gradcam",
        "deconv_gradcam",
    }
    for m in METHODS.values():
        assert m.description and "\n" not in m.description
        assert m.kind in ("cam", "gradient")
    assert isinstance(ENGINE_VERSION, str) and ENGINE_VERSION.count(".") == 2


def test_vgg16_random_weights():
    torch.manual_seed(0)
    b = load_model("vgg16", weights=None)
    assert b.arch == "vgg16" and b.target_layer == "features.29"
    assert not b.module.training
    assert len(b.categories) == 1000 and b.categories[0] == "tench"  # ImageNet names from torchvision meta
    assert b.input_size == (224, 224)
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8))
    x = b.preprocess(img)
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32
    assert b.display(img).shape == (224, 224, 3)
    torch.manual_seed(0)
    again = load_model("vgg16", weights=None)
    assert again.weights_sha256 == b.weights_sha256 and len(b.weights_sha256) == 64
    torch.manual_seed(1)
    assert load_model("vgg16", weights=None).weights_sha256 != b.weights_sha256


def test_demo_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    net = shapes_weak(3)
    path = tmp_path / "w.pt"
    torch.save(net.state_dict(), path)
    b = load_model("shapes_weak", checkpoint=str(path), categories=["circle", "square", "triangle"])
    assert b.categories == ["circle", "square", "triangle"]
    assert b.target_layer == DEMO_TARGET_LAYER and b.input_size == (128, 128)
    assert b.weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    for k, v in net.state_dict().items():
        assert torch.equal(b.module.state_dict()[k], v)
    # num_classes inferred from the checkpoint's head
    assert load_model("shapes_weak", checkpoint=str(path)).categories == ["class_0", "class_1", "class_2"]
    img = Image.fromarray(np.full((128, 128, 3), 255, np.uint8))
    x = b.preprocess(img)
    # white, normalized as in training: (1 - mean) / std per channel
    expected = [(1 - m) / s for m, s in zip(DEMO_MEAN, DEMO_STD, strict=True)]
    assert x.shape == (3, 128, 128)
    assert torch.allclose(x, torch.tensor(expected).view(3, 1, 1).expand_as(x))
    out = b.explainer().explain(x[None], [[0, 2]])
    assert out["gradcam"].shape == (1, 2, 128, 128)


class Evil:
    """A pickled object that weights_only loading must refuse."""


def test_checkpoint_wrapped_with_categories_and_errors(tmp_path):
    net = shapes_weak(2)
    p = tmp_path / "wrapped.pt"
    torch.save({"state_dict": net.state_dict(), "categories": ["a", "b"]}, p)
    assert load_model("shapes_weak", checkpoint=str(p)).categories == ["a", "b"]
    bad = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, bad)
    with pytest.raises(ValueError, match="contains pickled Python objects"):
        load_model("shapes_weak", checkpoint=str(bad))
    with pytest.raises(FileNotFoundError):
        load_model("shapes_weak", checkpoint=str(tmp_path / "missing.pt"))
    with pytest.raises(ValueError, match="does not match shapes_strong"):
        load_model("shapes_strong", checkpoint=str(p))
    with pytest.raises(ValueError, match="unknown architecture"):
        load_model("not_a_net")


def test_torchvision_checkpoint_with_other_head(tmp_path):
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None, num_classes=5)
    p = tmp_path / "r.pt"
    torch.save(net.state_dict(), p)
    b = load_model("resnet18", checkpoint=str(p))
    assert b.categories == [f"class_{i}" for i in range(5)] and b.target_layer == "layer4.1"
    b = load_model("resnet18", checkpoint=str(p), num_classes=5)
    assert b.num_classes == 5


@pytest.mark.parametrize(
    "arch,layer",
    [
        ("vgg16", "features.29"),
        ("vgg11_bn", "features.27"),
        ("alexnet", "features.11"),
        ("resnet18", "layer4.1"),
        ("resnet50", "layer4.2"),
        ("densenet121", "features.norm5"),
        ("mobilenet_v2", "features.18"),
        ("mobilenet_v3_small", "features.12"),
        ("efficientnet_b0", "features.8"),
        ("convnext_tiny", "features.7"),
        ("regnet_y_400mf", "trunk_output.block4"),
    ],
)
def test_family_target_layers(arch, layer):
    model = torchvision.models.get_model(arch, weights=None).eval()
    assert family_target_layer(model) == layer
    if arch in ("resnet18", "mobilenet_v2", "efficientnet_b0", "regnet_y_400mf"):
        # the generic tracer agrees (up to the name of the same tensor)
        traced = detect_by_tracing(model, torch.zeros(1, 3, 64, 64))
        assert traced == layer or traced == layer.rsplit(".", 1)[0]


def test_generic_detection_and_named_or_module_layers():
    class Custom(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = torch.nn.Sequential(
                torch.nn.Conv2d(3, 4, 3, padding=1),
                torch.nn.ReLU(),
                torch.nn.Conv2d(4, 4, 3, padding=1, stride=2),
                torch.nn.ReLU(),
            )
            self.pool = torch.nn.AdaptiveAvgPool2d(1)
            self.head = torch.nn.Linear(4, 3)

        def forward(self, x):
            return self.head(self.pool(self.body(x)).flatten(1))

    torch.manual_seed(0)
    model = Custom().eval()
    ex = Explainer(model)
    assert ex.target_layer is None
    x = torch.randn(2, 3, 16, 16)
    out = ex.explain(x, [0, 1], methods=("gradcam",))
    assert out.target_layer == "body" and out["gradcam"].shape == (2, 1, 16, 16)
    by_module = Explainer(model, model.body[3]).explain(x, [0, 1], methods=("gradcam",))
    assert by_module.target_layer == "body.3"
    torch.testing.assert_close(by_module["gradcam"], out["gradcam"])
    with pytest.raises(ValueError):
        Explainer(model, "nope")
