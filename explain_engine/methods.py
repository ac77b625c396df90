"""The registry of explanation methods.

Every method is a small function of an :class:`Ingredients` object, which holds
what the single forward pass and the few backward passes produced:

* ``acts``: the target layer's activations A, shape (N, C, h, w);
* ``layer_grad(k)``: d y^c / d A for the k-th target of every image (N, C, h, w);
* ``input_grad("guided", k)`` / ``input_grad("deconv", k)``: the gradient of
  the k-th target's score with respect to the input under the guided backprop or
  deconvnet ReLU rule (N, 3, H, W);
* ``method(name)``: another method's output (cached), so products reuse maps.

Adding a method means writing one function and calling :func:`register`::

    register(Method("my_cam", "one-line description", kind="cam",
                    needs=frozenset({"layer_grad"}), compute=my_function))

``kind`` is ``"cam"`` for maps shaped (N, K, H, W) and ``"gradient"`` for maps
shaped (N, K, 3, H, W); rendering picks its recipe from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

#: ingredient names a method may need
LAYER_GRAD = "layer_grad"
GUIDED = "guided"
DECONV = "deconv"


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    kind: str  # "cam" -> (N,K,H,W); "gradient" -> (N,K,3,H,W)
    compute: Callable[[Ingredients], torch.Tensor] = field(repr=False)
    needs: frozenset = frozenset()  # ingredients: LAYER_GRAD, GUIDED, DECONV
    uses: tuple = ()  # other methods whose outputs it combines

    def __str__(self) -> str:  # pragma: no cover - cosmetic
        return f"{self.name}: {self.description}"


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    if method.kind not in ("cam", "gradient"):
        raise ValueError(f"method kind must be 'cam' or 'gradient', not {method.kind!r}")
    METHODS[method.name] = method
    return method


def required_ingredients(names) -> set[str]:
    """Every ingredient the given methods need, following their ``uses``."""
    seen: set[str] = set()
    needs: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        if name not in METHODS:
            raise ValueError(f"unknown method {name!r}; known: {', '.join(METHODS)}")
        m = METHODS[name]
        needs |= set(m.needs)
        stack.extend(m.uses)
    return needs


class Ingredients:
    """What the engine computed for one batch; methods read from it."""

    def __init__(self, acts, layer_grads, input_grads, input_size, num_targets):
        self.acts = acts  # (N, C, h, w) or None
        self._layer_grads = layer_grads  # list of K tensors (N, C, h, w)
        self._input_grads = input_grads  # {"guided": [K x (N,3,H,W)], ...}
        self.input_size = tuple(input_size)  # (H, W)
        self.num_targets = num_targets
        self._cache: dict[str, torch.Tensor] = {}

    def layer_grad(self, k: int) -> torch.Tensor:
        return self._layer_grads[k]

    def input_grad(self, rule: str, k: int) -> torch.Tensor:
        return self._input_grads[rule][k]

    def upsample(self, cam: torch.Tensor) -> torch.Tensor:
        """(N, h, w) -> (N, H, W), bilinear, align_corners=False."""
        if tuple(cam.shape[-2:]) == self.input_size:
            return cam
        return F.interpolate(cam[:, None], size=self.input_size, mode="bilinear", align_corners=False)[:, 0]

    def method(self, name: str) -> torch.Tensor:
        if name not in self._cache:
            self._cache[name] = METHODS[name].compute(self).float()
        return self._cache[name]

    def per_target_cam(self, weights_fn) -> torch.Tensor:
        """Stack over targets of upsample(ReLU(sum_k w_k A^k)), w = weights_fn(grad, acts)."""
        A = self.acts
        maps = []
        for k in range(self.num_targets):
            w = weights_fn(self.layer_grad(k), A)  # (N, C)
            cam = torch.relu((w[:, :, None, None] * A).sum(1))
            maps.append(self.upsample(cam))
        return torch.stack(maps, 1)


# --------------------------------------------------------------------- CAMs


def _gradcam(ing: Ingredients) -> torch.Tensor:
    return ing.per_target_cam(lambda g, A: g.mean((2, 3)))


def _counterfactual(ing: Ingredients) -> torch.Tensor:
    return ing.per_target_cam(lambda g, A: (-g).mean((2, 3)))


GRADCAM_PP_EPS = 1e-7


def _gradcam_pp_weights(g: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    # Chattopadhyay et al. (2018), eq. 19 with the exponential score, as in
    # pytorch-grad-cam: alpha = g^2 / (2 g^2 + sum(A) g^3), weights = sum relu(g) alpha.
    g2 = g * g
    g3 = g2 * g
    sum_a = A.sum((2, 3), keepdim=True)
    aij = g2 / (2 * g2 + sum_a * g3 + GRADCAM_PP_EPS)
    aij = torch.where(g != 0, aij, torch.zeros_like(aij))
    return (torch.relu(g) * aij).sum((2, 3))


def _gradcam_pp(ing: Ingredients) -> torch.Tensor:
    return ing.per_target_cam(_gradcam_pp_weights)


# ---------------------------------------------------------------- gradients


def _input_grads(rule):
    def compute(ing: Ingredients) -> torch.Tensor:
        return torch.stack([ing.input_grad(rule, k) for k in range(ing.num_targets)], 1)

    return compute


def _product(gradient_method, cam_method):
    def compute(ing: Ingredients) -> torch.Tensor:
        return ing.method(gradient_method) * ing.method(cam_method)[:, :, None]

    return compute


register(
    Method(
        "gradcam",
        "Grad-CAM: ReLU of the activations weighted by mean gradients (Selvaraju et al.)",
        "cam",
        _gradcam,
        frozenset({LAYER_GRAD}),
    )
)
register(
    Method(
        "gradcam_pp",
        "Grad-CAM++: weights from positive gradients with higher-order terms (Chattopadhyay et al.)",
        "cam",
        _gradcam_pp,
        frozenset({LAYER_GRAD}),
    )
)
register(
    Method(
        "counterfactual_gradcam",
        "Counterfactual Grad-CAM: Grad-CAM with negated gradients (regions against the class)",
        "cam",
        _counterfactual,
        frozenset({LAYER_GRAD}),
    )
)
register(
    Method(
        "guided_backprop",
        "Guided Backpropagation: input gradient, ReLUs pass only positive gradients at positive inputs",
        "gradient",
        _input_grads(GUIDED),
        frozenset({GUIDED}),
    )
)
register(
    Method(
        "deconvnet",
        "Deconvnet: input gradient, ReLUs pass only positive gradients (Zeiler & Fergus)",
        "gradient",
        _input_grads(DECONV),
        frozenset({DECONV}),
    )
)
register(
    Method(
        "guided_gradcam",
        "Guided Grad-CAM: Guided Backprop times upsampled Grad-CAM",
        "gradient",
        _product("guided_backprop", "gradcam"),
        uses=("guided_backprop", "gradcam"),
    )
)
register(
    Method(
        "deconv_gradcam",
        "Deconvnet Grad-CAM: Deconvnet times upsampled Grad-CAM",
        "gradient",
        _product("deconvnet", "gradcam"),
        uses=("deconvnet", "gradcam"),
    )
)
