"""Method parameters: defaults, overrides and refusals, recorded with every explanation."""

import pytest
import torch

from explain_engine import Explainer

from .conftest import TINY_X


def test_parameters_are_recorded_with_defaults_and_overrides(tiny):
    out = Explainer(tiny, "relu").explain(
        TINY_X, 0, methods=("gradcam", "integrated_gradients", "smoothgrad"), params={"smoothgrad": {"samples": 5}}
    )
    assert out.params["gradcam"] == {}
    assert out.params["integrated_gradients"] == {"steps": 50, "baseline": 0.0, "batch_size": 32}
    assert out.params["smoothgrad"] == {"samples": 5, "noise_level": 0.15, "seed": 0, "batch_size": 32}


@pytest.mark.parametrize(
    "params,message",
    [
        ({"smoothgrad": {"sample": 5}}, "smoothgrad has no parameter sample"),
        ({"smoothgrad": {"samples": "many"}}, "samples must be a whole number"),
        ({"smoothgrad": {"samples": 0}}, "samples must be at least 1"),
        ({"integrated_gradients": {"steps": 2.5}}, "steps must be a whole number"),
        ({"gradcam": {"eps": 1}}, "gradcam has no parameter eps"),
        ({"scorecam": {"batch_size": 4}}, "not requested"),
        ({"no_such_method": {}}, "unknown method"),
    ],
)
def test_bad_parameters_are_refused_before_any_work(tiny, params, message):
    with pytest.raises(ValueError, match=message):
        Explainer(tiny, "relu").explain(
            TINY_X, 0, methods=("gradcam", "smoothgrad", "integrated_gradients"), params=params
        )


def test_random_control_is_seeded_smooth_and_independent_of_the_batch(resnet18_random):
    torch.manual_seed(2)
    x = torch.randn(2, 3, 64, 64)
    ex = Explainer(resnet18_random)
    a = ex.explain(x, [[1, 2], [1, 2]], methods=("random",))["random"]
    again = ex.explain(x[1:], [[1, 2]], methods=("random",))["random"]
    other = ex.explain(x, [[1, 2], [1, 2]], methods=("random",), params={"random": {"seed": 1}})["random"]
    assert torch.equal(a[1:], again)  # the same image, class and seed give the same map in any batch
    assert not torch.equal(a[:, 0], a[:, 1])  # each class its own map
    assert not torch.equal(a[0], a[1])  # each image its own map
    assert not torch.equal(a, other)
    assert a.min() >= 0 and a.max() <= 1
    # upsampled from the 2 x 2 layer4 grid: neighbouring pixels differ little
    assert (a[..., 1:] - a[..., :-1]).abs().max() < 0.1


def test_fullgrad_refuses_a_network_with_other_activations():
    import torchvision

    from explain_engine import UnsupportedActivationError

    model = torchvision.models.efficientnet_b0(weights=None).eval()
    with pytest.raises(UnsupportedActivationError, match="fullgrad cannot handle the activation SiLU"):
        Explainer(model).explain(torch.randn(1, 3, 64, 64), 0, methods=("fullgrad", "gradcam"))


def test_ablation_from_the_layer_equals_the_full_forward(resnet18_random):
    # Ablation-CAM runs only the layers after the target when the network allows (here, after layer4);
    # the full forward with the layer's output replaced gives the same map.
    torch.manual_seed(3)
    x = torch.randn(1, 3, 64, 64)
    ex = Explainer(resnet18_random)
    fast = ex.explain(x, [[4, 9]], methods=("ablationcam",))["ablationcam"]
    assert ex._suffix() is not None
    ex._suffixes[ex.target_layer] = None  # no suffix: every ablation runs the whole network
    slow = ex.explain(x, [[4, 9]], methods=("ablationcam",))["ablationcam"]
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-4 * slow.abs().max().item())
