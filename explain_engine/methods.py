"""The registry of explanation methods.

Every method is a small function of an :class:`Ingredients` object, which holds
what the single forward pass and the few backward passes produced:

* ``acts``: the target layer's activations A, shape (N, C, h, w);
* ``layer_grad(k)``: d y^c / d A for the k-th target of every image (N, C, h, w);
* ``input_grad("guided", k)`` / ``input_grad("deconv", k)``: the gradient of
  the k-th target's score with respect to the input under the guided backprop or
  deconvnet ReLU rule (N, 3, H, W);
* ``input_grad("plain", k)``: the ordinary gradient of the k-th target's score
  with respect to the input (N, 3, H, W);
* ``bias_grads(k)``: FullGrad's input gradient and the gradients at the outputs
  of every biased convolution and batch norm, with the layers' biases;
* ``method(name)``: another method's output (cached), so products reuse maps;
* ``params(name)``: the method's parameters (its defaults, overridden by the caller);
* ``forward(batch)`` and ``forward_with_layer_output(batch, raw)``: further
  forward passes for the methods that need them (perturbation CAMs, sampling
  methods); these cost one forward per sample and are marked ``expensive``.

Adding a method means writing one function and calling :func:`register`::

    register(Method("my_cam", "one-line description", kind="cam",
                    needs=frozenset({"layer_grad"}), compute=my_function,
                    defaults={"eps": 1e-7}, cost="one forward + one backward to the layer"))

``kind`` is ``"cam"`` for maps shaped (N, K, H, W) and ``"gradient"`` for maps
shaped (N, K, 3, H, W); rendering picks its recipe from it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

#: ingredient names a method may need
ACTS = "acts"  # the target layer's activations only (no backward)
LAYER_GRAD = "layer_grad"
GUIDED = "guided"
DECONV = "deconv"
PLAIN = "plain"  # the ordinary input gradient
BIAS_GRADS = "bias_grads"  # FullGrad: gradients at every biased conv / batch norm output

SINGLE_PASS_COST = "nothing beside the forward and the Grad-CAM backward"


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    kind: str  # "cam" -> (N,K,H,W); "gradient" -> (N,K,3,H,W)
    compute: Callable[[Ingredients], torch.Tensor] = field(repr=False)
    needs: frozenset = frozenset()  # ingredients: ACTS, LAYER_GRAD, GUIDED, DECONV, PLAIN, BIAS_GRADS
    uses: tuple = ()  # other methods whose outputs it combines
    defaults: dict = field(default_factory=dict)  # parameters and their default values
    cost: str = SINGLE_PASS_COST  # for the README and the admin
    expensive: bool = False  # runs forward passes of its own (scheduled in chunks of its own)

    def __str__(self) -> str:  # pragma: no cover - cosmetic
        return f"{self.name}: {self.description}"


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    if method.kind not in ("cam", "gradient"):
        raise ValueError(f"method kind must be 'cam' or 'gradient', not {method.kind!r}")
    METHODS[method.name] = method
    return method


def resolve_params(methods, overrides=None) -> dict[str, dict]:
    """Each method's parameters: its defaults with the caller's values, checked and cast.

    ``overrides`` maps a method name to a dict of parameters; an unknown method or
    parameter, or a value of the wrong type, raises ValueError naming it."""
    overrides = dict(overrides or {})
    for name in overrides:
        if name not in METHODS:
            raise ValueError(f"parameters given for unknown method {name!r}")
        if name not in methods:
            raise ValueError(f"parameters given for {name!r}, which is not requested")
    out = {}
    for name in methods:
        given = dict(overrides.get(name) or {})
        defaults = METHODS[name].defaults
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            known = ", ".join(defaults) or "none"
            raise ValueError(f"{name} has no parameter {', '.join(unknown)} (its parameters: {known})")
        params = {}
        for key, default in defaults.items():
            value = given.get(key, default)
            params[key] = _cast(name, key, value, default)
        out[name] = params
    return out


_TYPE_WORDS = {bool: "true or false", int: "a whole number", float: "a number"}


def _cast(method, key, value, default):
    kind = type(default)
    if kind not in _TYPE_WORDS:
        return value
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # not NaN
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = ok and int(value) == value
    if not ok:
        raise ValueError(f"{method} parameter {key} must be {_TYPE_WORDS[kind]}, not {value!r}")
    value = kind(value)
    least = 0 if key == "seed" else 1
    if kind is int and value < least:
        raise ValueError(f"{method} parameter {key} must be at least {least}, not {value}")
    return value


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

    def __init__(
        self,
        acts,
        layer_grads,
        input_grads,
        input_size,
        num_targets,
        *,
        x=None,
        targets=None,
        scores=None,
        params=None,
        bias_grads=None,
        forward=None,
        forward_with_layer_output=None,
        raw_acts=None,
        channel_dim=1,
    ):
        self.acts = acts  # (N, C, h, w) or None
        self._layer_grads = layer_grads  # list of K tensors (N, C, h, w)
        self._input_grads = input_grads  # {"guided": [K x (N,3,H,W)], ...}
        self.input_size = tuple(input_size)  # (H, W)
        self.num_targets = num_targets
        self.x = x  # the (N, 3, H, W) input, detached
        self.targets = targets  # (N, K) class indices
        self.scores = scores  # (N, classes) logits of the forward
        self._params = params or {}
        self._bias_grads = bias_grads  # K x (input grad, [(layer grad, bias)])
        self.forward = forward  # batch -> logits, no hooks, no graph
        self.forward_with_layer_output = forward_with_layer_output  # (batch, raw layer output) -> logits
        self.raw_acts = raw_acts  # the layer output in the model's own layout
        self.channel_dim = channel_dim  # the channel dimension of raw_acts
        self._cache: dict[str, torch.Tensor] = {}

    def params(self, name: str) -> dict:
        return self._params.get(name) or resolve_params((name,))[name]

    def bias_grads(self, k: int):
        return self._bias_grads[k]

    def layer_grad(self, k: int) -> torch.Tensor:
        return self._layer_grads[k]

    def input_grad(self, rule: str, k: int) -> torch.Tensor:
        return self._input_grads[rule][k]

    def upsample(self, cam: torch.Tensor, align_corners: bool = False) -> torch.Tensor:
        """(N, h, w) -> (N, H, W), bilinear."""
        if tuple(cam.shape[-2:]) == self.input_size:
            return cam
        return F.interpolate(cam[:, None], size=self.input_size, mode="bilinear", align_corners=align_corners)[:, 0]

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

    def per_target_elementwise_cam(self, combine) -> torch.Tensor:
        """Stack over targets of upsample(ReLU(sum over channels of combine(grad, acts)))."""
        maps = [
            self.upsample(torch.relu(combine(self.layer_grad(k), self.acts).sum(1))) for k in range(self.num_targets)
        ]
        return torch.stack(maps, 1)

    def weighted_cam(self, weights: torch.Tensor) -> torch.Tensor:
        """upsample(ReLU(sum_c w_c A^c)) for weights shaped (N, C, K)."""
        cams = torch.relu(torch.einsum("nck,nchw->nkhw", weights.to(self.acts.dtype), self.acts))
        return torch.stack([self.upsample(cams[:, k]) for k in range(self.num_targets)], 1)

    def image_seed(self, seed: int, i: int, target: int | None = None) -> int:
        return image_seed(self.x[i], seed, target)


def image_seed(image: torch.Tensor, seed: int, target: int | None = None) -> int:
    """A seed for one image (and a target class) from ``seed`` and the image's values, so that a
    seeded map does not depend on the batch the image came in."""
    data = image.detach().float().cpu().contiguous().numpy().tobytes()
    h = hashlib.sha256(f"{seed}:{target}:".encode() + data).digest()
    return int.from_bytes(h[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


# The methods register themselves on import; they need the names above.
from . import implementations  # noqa: E402, F401
