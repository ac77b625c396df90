"""Batch vs singles, K targets vs K calls, the model left exactly as it was, no gradients, no leaks."""

import gc
import os

import pytest
import torch
import torch.nn.functional as F

from explain_engine import Explainer, UnsupportedActivationError

from .conftest import ALL_METHODS, TINY_X, Tiny

THREE = ("gradcam", "guided_backprop", "guided_gradcam")


# Few samples, and a 64-channel layer for the methods that run one forward pass per channel.
CHEAP_PARAMS = {"integrated_gradients": {"steps": 3}, "smoothgrad": {"samples": 3}}


def test_batch_equals_singles_and_k_targets_equal_k_calls(resnet18_random):
    torch.manual_seed(1)
    x = torch.randn(3, 3, 32, 32)
    targets = torch.tensor([[1, 5], [7, 2], [3, 3]])
    ex = Explainer(resnet18_random, "layer1.0.conv1")
    batch = ex.explain(x, targets, methods=ALL_METHODS, params=CHEAP_PARAMS)
    assert batch["gradcam"].shape == (3, 2, 32, 32)
    assert batch["guided_backprop"].shape == (3, 2, 3, 32, 32)
    assert batch.scores.shape == (3, 1000)
    for i in range(3):
        for k in range(2):
            single = ex.explain(x[i : i + 1], [int(targets[i, k])], methods=ALL_METHODS, params=CHEAP_PARAMS)
            for name in ALL_METHODS:
                expected = single[name][0, 0]
                # Ablation-CAM's weights (y - y_k) / y subtract nearly equal scores, so the float noise
                # of a different batch shape grows to about 1e-4 of the map where one channel moves y little.
                atol = 1e-4 * expected.abs().max().item() if name == "ablationcam" else 1e-6
                torch.testing.assert_close(
                    batch[name][i, k], expected, rtol=1e-4, atol=atol, msg=f"{name} image {i} target {k}"
                )


def _snapshot(model):
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "training": [m.training for m in model.modules()],
        "inplace": [getattr(m, "inplace", None) for m in model.modules()],
        "forward": [("forward" in m.__dict__) for m in model.modules()],
        "hooks": [
            (
                list(m._forward_hooks),
                list(m._forward_pre_hooks),
                list(m._backward_hooks),
                list(getattr(m, "_backward_pre_hooks", {})),
            )
            for m in model.modules()
        ],
    }


def _assert_same(model, snap):
    now = _snapshot(model)
    assert now["requires_grad"] == snap["requires_grad"]
    assert now["training"] == snap["training"]
    assert now["inplace"] == snap["inplace"]
    assert now["forward"] == snap["forward"]
    assert now["hooks"] == snap["hooks"]
    assert now["state"].keys() == snap["state"].keys()
    for k in snap["state"]:
        assert torch.equal(now["state"][k], snap["state"][k]), k
    assert all(p.grad is None for p in model.parameters())
    assert torch._C._len_torch_function_stack() == 0


class WithGelu(Tiny):
    def forward(self, x):
        z = self.relu(self.conv(x))
        return self.fc2(F.gelu(self.fc1(z.mean((2, 3)))))


class Raising(Tiny):
    def forward(self, x):
        self.relu(self.conv(x))
        raise RuntimeError("boom")


def _odd_model(cls=Tiny):
    model = cls()
    model.train()  # a caller's model in training mode with BatchNorm-free state
    model.fc1.weight.requires_grad_(False)  # one frozen parameter
    seen = []
    model.conv.register_forward_hook(lambda m, i, o: seen.append(1))
    model.fc2.register_forward_pre_hook(lambda m, i: None)
    return model


@pytest.mark.parametrize("methods", [ALL_METHODS, ("gradcam",), ("guided_backprop",)])
def test_model_unchanged_after_a_call(methods):
    model = _odd_model()
    snap = _snapshot(model)
    x = TINY_X.clone().requires_grad_(True)
    Explainer(model, "relu").explain(x, [[0, 1]], methods=methods)
    _assert_same(model, snap)
    assert x.grad is None


@pytest.mark.parametrize(
    "cls,targets,methods,error",
    [
        (Tiny, [[5]], ALL_METHODS, ValueError),  # target out of range: raises after the forward
        (WithGelu, [[0]], ALL_METHODS, UnsupportedActivationError),  # raises inside the guided forward
        (Raising, [[0]], ("gradcam",), RuntimeError),
        (Raising, [[0]], ALL_METHODS, RuntimeError),
    ],
)
def test_model_unchanged_after_a_call_that_raised(cls, targets, methods, error):
    model = _odd_model(cls)
    snap = _snapshot(model)
    with pytest.raises(error):
        Explainer(model, "relu").explain(TINY_X, targets, methods=methods)
    _assert_same(model, snap)


def test_unsupported_functional_activation_error_names_it():
    with pytest.raises(UnsupportedActivationError, match="gelu"):
        Explainer(WithGelu(), "relu").explain(TINY_X, 0, methods=("guided_backprop",))
    out = Explainer(WithGelu(), "relu").explain(TINY_X, 0, methods=("gradcam", "gradcam_pp"))
    assert out["gradcam"].shape == (1, 1, 2, 2)


@pytest.mark.parametrize(
    "arch,activation", [("efficientnet_b0", "SiLU"), ("mobilenet_v3_small", "Hardswish"), ("mobilenet_v2", "ReLU6")]
)
def test_other_activations_refuse_guided_but_cam_works(arch, activation):
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.get_model(arch, weights=None).eval()
    ex = Explainer(model)
    x = torch.randn(1, 3, 64, 64)
    with pytest.raises(UnsupportedActivationError, match=activation if activation != "ReLU6" else "ReLU6|Hardtanh"):
        ex.explain(x, 3, methods=("guided_gradcam",))
    out = ex.explain(x, 3, methods=("gradcam", "gradcam_pp", "counterfactual_gradcam"))
    assert out["gradcam"].shape == (1, 1, 64, 64)
    assert torch.isfinite(out["gradcam"]).all()


def test_densenet_functional_relu_is_reached():
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.densenet121(weights=None).eval()
    out = Explainer(model).explain(torch.randn(1, 3, 64, 64), 1, methods=THREE)
    # 58 dense layers x 2 + stem + 3 transitions (modules) + the functional F.relu in forward
    assert out.guided_relus == 58 * 2 + 1 + 3 + 1
    assert out.target_layer == "features.norm5"


def test_inference_mode_and_no_grad_callers(tiny):
    with torch.inference_mode():
        x = TINY_X.clone()
        a = Explainer(tiny).explain(x, 0, methods=ALL_METHODS)
    with torch.no_grad():
        b = Explainer(tiny).explain(TINY_X, 0, methods=ALL_METHODS)
    for name in ALL_METHODS:
        torch.testing.assert_close(a[name], b[name])


def _rss_mb():
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _tensor_count():
    gc.collect()
    return sum(1 for o in gc.get_objects() if issubclass(type(o), torch.Tensor))


def test_memory_does_not_grow_over_300_calls(tiny):
    ex = Explainer(tiny)
    x = TINY_X.repeat(4, 1, 1, 1)
    for _ in range(20):
        ex.explain(x, [[0, 1]] * 4, methods=ALL_METHODS, params=CHEAP_PARAMS)
    tensors, rss = _tensor_count(), _rss_mb()
    for _ in range(300):
        out = ex.explain(x, [[0, 1]] * 4, methods=ALL_METHODS, params=CHEAP_PARAMS)
    del out
    assert _tensor_count() <= tensors
    assert _rss_mb() - rss < 5.0
