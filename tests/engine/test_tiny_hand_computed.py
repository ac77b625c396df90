"""Every method against values differentiated by hand on the Tiny model (see conftest).

Forward, x = [[1, -2], [3, 0.5]]:
  z0 = 2x = [[2, -4], [6, 1]]            A0 = [[2, 0], [6, 1]]
  z1 = -x + 0.5 = [[-.5, 2.5], [-2.5, 0]] A1 = [[0, 2.5], [0, 0]]
  p = mean(A) = [2.25, 0.625];  fc1: [1.625, -1.625, 2.875] -> relu -> h = [1.625, 0, 2.875]
  y = fc2 h = [3.0625, -0.1875]
Class 0: dy/dh = [1, .5, .5]; through relu (mask [1,0,1]) [1, 0, .5]; dp = W1^T = [1.5, -.5];
  dy/dA = dp / 4 = [.375, -.125] per pixel -> Grad-CAM = relu(.375 A0 - .125 A1)
Class 1: dy/dh = [-1, 3, .5] -> [-1, 0, .5]; dp = [-.5, 1.5]; alpha = [-.125, .375]
"""

import pytest
import torch

from explain_engine import Explainer

from .conftest import ALL_METHODS, TINY_X, Tiny

CAM = [[[0.75, 0.0], [2.25, 0.375]], [[0.0, 0.9375], [0.0, 0.0]]]
COUNTER = [[[0.0, 0.3125], [0.0, 0.0]], [[0.25, 0.0], [0.75, 0.125]]]
# Grad-CAM++: class 0 weights: ch0 4 * .375 * g^2/(2g^2 + 9 g^3) = 12/43, ch1 0 (negative gradient);
# class 1: ch0 0, ch1 4 * .375 * g^2/(2g^2 + 2.5 g^3) = 24/47.
CAMPP = [[[24 / 43, 0.0], [72 / 43, 12 / 43]], [[0.0, 60 / 47], [0.0, 0.0]]]
# Guided backprop, class 0: relu(h) passes [1, 0, .5]; dp = [1.5, -.5]; dA0 = .375 where A0 > 0,
# dA1 = 0 (negative); dx = 2 dA0.  Class 1: [-1, 0, .5] -> [0, 0, .5]; dp = [.5, .5];
# dA0 = .125 where A0 > 0, dA1 = .125 where A1 > 0; dx = 2 dA0 - dA1.
GUIDED = [[[0.75, 0.0], [0.75, 0.75]], [[0.25, -0.125], [0.25, 0.25]]]
# Deconvnet, class 0: relu(dy/dh) = [1, .5, .5]; dp = [1, 0]; relu(dA) = [.25, 0]; dx = .5.
# Class 1: relu([-1, 3, .5]) = [0, 3, .5]; dp = [-2.5, 3.5]; relu(dA) = [0, .875]; dx = -.875.
DECONV = [[[0.5, 0.5], [0.5, 0.5]], [[-0.875, -0.875], [-0.875, -0.875]]]


def expected():
    cam, gb, dc = torch.tensor(CAM), torch.tensor(GUIDED), torch.tensor(DECONV)
    return {
        "gradcam": cam[None],
        "gradcam_pp": torch.tensor(CAMPP)[None],
        "counterfactual_gradcam": torch.tensor(COUNTER)[None],
        "guided_backprop": gb[None, :, None],
        "deconvnet": dc[None, :, None],
        "guided_gradcam": (gb * cam)[None, :, None],
        "deconv_gradcam": (dc * cam)[None, :, None],
    }


@pytest.mark.parametrize("functional_first", [False, True])
def test_every_method_matches_hand_computation(functional_first):
    model = Tiny(functional_first).eval()
    out = Explainer(model, "relu" if not functional_first else "conv").explain(TINY_X, [[0, 1]], methods=ALL_METHODS)
    torch.testing.assert_close(out.scores, torch.tensor([[3.0625, -0.1875]]))
    for name, want in expected().items():
        if functional_first and "cam" in name:
            continue  # target layer differs (pre-ReLU), checked below
        assert out[name].dtype == torch.float32
        assert out[name].shape == want.shape, name
        torch.testing.assert_close(out[name], want, rtol=1e-5, atol=1e-6, msg=name)


def test_functional_relu_gets_the_guided_rule_like_a_module_relu():
    a = Explainer(Tiny(False).eval()).explain(TINY_X, [[0, 1]], methods=("guided_backprop", "deconvnet"))
    b = Explainer(Tiny(True).eval(), "conv").explain(TINY_X, [[0, 1]], methods=("guided_backprop", "deconvnet"))
    assert a.guided_relus == b.guided_relus == 2
    torch.testing.assert_close(a["guided_backprop"], b["guided_backprop"])
    torch.testing.assert_close(a["deconvnet"], b["deconvnet"])


def test_gradcam_upsampling_is_bilinear_align_corners_false():
    class Down(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 1, 2, stride=2, bias=False)
            self.relu = torch.nn.ReLU()
            with torch.no_grad():
                self.conv.weight.fill_(0.25)

        def forward(self, x):
            return self.relu(self.conv(x)).mean((2, 3))  # one logit

    x = torch.tensor([[1.0, 1, 2, 2], [1, 1, 2, 2], [4, 4, -8, -8], [4, 4, -8, -8]]).view(1, 1, 4, 4)
    out = Explainer(Down(), "relu").explain(x, 0, methods=("gradcam",))
    # A = [[1, 2], [4, 0]], dy/dA = 1/4 -> cam = A / 4; bilinear 2 -> 4 (align_corners=False)
    # maps output index i to weights on the two source pixels: (1,0), (.75,.25), (.25,.75), (0,1).
    m = torch.tensor([[1.0, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]])
    cam = torch.tensor([[1.0, 2.0], [4.0, 0.0]]) / 4
    torch.testing.assert_close(out["gradcam"][0, 0], m @ cam @ m.T)


def test_targets_none_explains_the_top_class(tiny):
    out = Explainer(tiny).explain(TINY_X, None, methods=("gradcam",))
    assert out.targets.tolist() == [[0]]
    torch.testing.assert_close(out["gradcam"][0, 0], torch.tensor(CAM[0]))
