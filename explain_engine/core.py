"""The explanation engine: one forward pass per batch serves every method and target.

How it works
------------
* A forward hook on the target layer keeps its output A and hands a *clone*
  downstream, so an in-place op after the layer cannot overwrite A.
* When a gradient method (guided backprop, deconvnet, their Grad-CAM products)
  is requested, the forward runs under a ``TorchFunctionMode`` that replaces
  every ReLU the model applies -- ``nn.ReLU`` modules and functional calls
  (``F.relu``, ``torch.relu``, ``Tensor.relu``, in-place variants) alike -- by
  :class:`_SwitchReLU`, an autograd function whose backward rule is chosen at
  *backward* time from a per-call state: the ordinary ReLU derivative for the
  Grad-CAM backward pass, the guided rule or the deconvnet rule for the passes
  to the input. So one forward graph serves all of them. Any other activation
  (SiLU, GELU, Hardswish, Sigmoid, ...) makes the guided methods refuse with
  :class:`UnsupportedActivationError`; CAM methods work for every model.
* Grad-CAM backpropagates with ``torch.autograd.grad`` only from the selected
  scores to A; the gradient methods need one backward to the input per target.
* Parameters are frozen for the call (``requires_grad`` restored exactly) and
  only ``autograd.grad`` is used, so no ``.grad`` is ever written; the model is
  put in eval mode for the call and its ``training`` flags restored; hooks are
  removed in ``finally``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from .layers import (
    detect_by_tracing,
    family_layout,
    family_target_layer,
    get_module,
    layer_suffix,
    module_name,
    to_grid,
)
from .methods import (
    ACTS,
    BIAS_GRADS,
    DECONV,
    GUIDED,
    LAYER_GRAD,
    METHODS,
    PLAIN,
    Ingredients,
    required_ingredients,
    resolve_params,
)

DEFAULT_METHODS = ("gradcam", "guided_backprop", "guided_gradcam")


class UnsupportedActivationError(ValueError):
    """The guided/deconvnet rule cannot be applied to an activation of the model."""


# Activations the guided and deconvnet rules are not defined for.
UNSUPPORTED_MODULES = (
    nn.SiLU,
    nn.GELU,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.LeakyReLU,
    nn.PReLU,
    nn.RReLU,
    nn.Softplus,
    nn.Mish,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardtanh,
    nn.GLU,
    nn.Softsign,
    nn.LogSigmoid,
    nn.Tanhshrink,
    nn.Threshold,
    nn.Softshrink,
    nn.Hardshrink,
)  # nn.ReLU6 is a Hardtanh
UNSUPPORTED_FUNCTIONS = {
    "silu",
    "silu_",
    "gelu",
    "gelu_",
    "hardswish",
    "hardswish_",
    "hardsigmoid",
    "hardsigmoid_",
    "elu",
    "elu_",
    "selu",
    "selu_",
    "celu",
    "celu_",
    "leaky_relu",
    "leaky_relu_",
    "prelu",
    "rrelu",
    "rrelu_",
    "softplus",
    "mish",
    "mish_",
    "sigmoid",
    "sigmoid_",
    "tanh",
    "tanh_",
    "hardtanh",
    "hardtanh_",
    "relu6",
    "relu6_",
    "glu",
    "softsign",
    "logsigmoid",
    "tanhshrink",
    "threshold",
    "threshold_",
    "softshrink",
    "hardshrink",
}
_RELU_FUNCS = {F.relu, torch.relu, torch.Tensor.relu}
_RELU_INPLACE_FUNCS = {torch.relu_, torch.Tensor.relu_, F.relu_}

NORMAL, GUIDED_RULE, DECONV_RULE = "normal", "guided", "deconv"


class _RuleState:
    """Which backward rule the switchable ReLUs of one forward graph apply now."""

    __slots__ = ("rule", "count")

    def __init__(self):
        self.rule = NORMAL
        self.count = 0


class _SwitchReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, state, inplace):
        if inplace:
            ctx.mark_dirty(x)
            out = torch.relu_(x)
        else:
            out = torch.relu(x)
        ctx.save_for_backward(out)
        ctx.state = state
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        rule = ctx.state.rule
        if rule == DECONV_RULE:
            return torch.relu(grad), None, None
        # threshold_backward is the kernel of the ordinary ReLU backward: one pass over the
        # tensor; the guided rule then clamps that fresh tensor in place.
        g = torch.ops.aten.threshold_backward(grad, out, 0)
        if rule == GUIDED_RULE:
            g.clamp_(min=0)
        return g, None, None


_OTHER, _RELU, _UNSUPPORTED = "other", "relu", "unsupported"
_FUNCTION_KINDS: dict = {}


def _function_kind(func) -> str:
    """Classify a torch function once; the mode sees every op of the forward, so this stays cheap."""
    try:
        return _FUNCTION_KINDS[func]
    except (KeyError, TypeError):
        pass
    if func in _RELU_FUNCS or func in _RELU_INPLACE_FUNCS:
        kind = _RELU
    elif getattr(func, "__name__", "") in UNSUPPORTED_FUNCTIONS:
        kind = _UNSUPPORTED
    else:
        kind = _OTHER
    try:
        _FUNCTION_KINDS[func] = kind
    except TypeError:  # an unhashable callable: classified again next time
        pass
    return kind


class _GuidedMode(TorchFunctionMode):
    """Routes every ReLU through :class:`_SwitchReLU`; refuses other activations."""

    def __init__(self, state: _RuleState, why: str):
        super().__init__()
        self.state = state
        self.why = why

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        kind = _function_kind(func)
        if kind is _OTHER:
            return func(*args, **kwargs)
        if kind is _RELU:
            inplace = func in _RELU_INPLACE_FUNCS or bool(kwargs.get("inplace", args[1] if len(args) > 1 else False))
            self.state.count += 1
            return _SwitchReLU.apply(args[0], self.state, inplace)
        raise UnsupportedActivationError(
            f"{self.why} cannot handle the activation '{func.__name__}' that the model applies in its forward; "
            "only ReLU is supported by the guided backprop / deconvnet rules "
            "(CAM methods such as gradcam work for this model)"
        )


def _check_modules(model: nn.Module, why: str) -> None:
    for name, m in model.named_modules():
        if isinstance(m, UNSUPPORTED_MODULES):
            raise UnsupportedActivationError(
                f"{why} cannot handle the activation {type(m).__name__} at layer '{name}'; "
                "only ReLU is supported by the guided backprop / deconvnet rules "
                "(CAM methods such as gradcam work for this model)"
            )


# FullGrad's decomposition into bias-gradients holds for piecewise-linear networks whose biases
# all sit in convolutions and batch norms; these layers break it.
FULLGRAD_UNSUPPORTED = (nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm2d, nn.LocalResponseNorm, nn.MultiheadAttention)


def _bias_layers(model: nn.Module) -> list[tuple[nn.Module, torch.Tensor]]:
    """FullGrad's layers: every Conv2d and BatchNorm2d with a bias, with its effective bias
    (a batch norm's bias after its running statistics, as in the authors' code)."""
    why = "fullgrad"
    _check_modules(model, why)
    for name, m in model.named_modules():
        if isinstance(m, FULLGRAD_UNSUPPORTED):
            raise UnsupportedActivationError(
                f"fullgrad cannot handle the layer {type(m).__name__} at '{name}': its bias-gradient "
                "decomposition holds only for ReLU networks of convolutions and batch norms "
                "(CAM methods such as gradcam work for this model)"
            )
    layers = []
    for m in model.modules():
        if type(m) is nn.BatchNorm2d and m.bias is not None:
            bias = m.bias - m.running_mean * m.weight / torch.sqrt(m.running_var + m.eps)
            layers.append((m, bias.detach()))
        elif type(m) is nn.Conv2d and m.bias is not None:
            layers.append((m, m.bias.detach()))
    if not layers:
        raise UnsupportedActivationError("fullgrad needs convolutions or batch norms with biases; the model has none")
    return layers


class Explanation(dict):
    """method name -> float32 tensor; plus ``scores`` (N, C) logits, ``targets`` (N, K),
    ``target_layer`` (dotted name), ``guided_relus`` (ReLU calls the guided rule covered) and
    ``params`` (method name -> the parameters it ran with, for provenance)."""

    scores: torch.Tensor
    targets: torch.Tensor
    target_layer: str
    guided_relus: int
    params: dict

    def numpy(self) -> dict:
        return {k: v.detach().cpu().numpy() for k, v in self.items()}


def _normalize_targets(targets, n: int, device) -> torch.Tensor:
    t = (
        torch.as_tensor(targets, dtype=torch.long, device=device)
        if not isinstance(targets, torch.Tensor)
        else targets.to(device=device, dtype=torch.long)
    )
    if t.ndim == 0:
        t = t.expand(n)
    if t.ndim == 1:
        t = t[:, None]
    if t.ndim != 2 or t.shape[0] != n:
        raise ValueError(f"targets must be an int or shaped (N,) or (N, K) with N={n}; got {tuple(t.shape)}")
    if t.shape[1] == 0:
        raise ValueError("at least one target class is needed")
    return t


class _ModelGuard:
    """Freeze parameters and switch to eval for the duration of a call; restore exactly."""

    def __init__(self, model: nn.Module):
        self.model = model

    def __enter__(self):
        self.flags = [(p, p.requires_grad) for p in self.model.parameters()]
        self.modes = [(m, m.training) for m in self.model.modules()]
        for p, _ in self.flags:
            p.requires_grad_(False)
        for m, _ in self.modes:
            m.training = False
        return self

    def __exit__(self, *exc):
        for p, flag in self.flags:
            p.requires_grad_(flag)
        for m, mode in self.modes:
            m.training = mode
        return False


def _convolution_friendly(batch: torch.Tensor) -> torch.Tensor:
    """A perturbation pass's input (no gradient) in channels-last memory order on a CPU.

    oneDNN runs convolutions on channels-last inputs faster without a change to the model (this
    machine, batch 32 at 224: VGG-16 1.5x, ResNet-50 1.4x); the logits agree with the contiguous
    run to float rounding. The sampling methods' input gradients do not (SmoothGrad on VGG-16
    moved by 2e-3 of the map's maximum against captum), so passes with a gradient keep the
    contiguous order. On a GPU the gain depends on the precision and cuDNN version, and was not
    measured, so the input is left as it is."""
    if batch.ndim == 4 and batch.device.type == "cpu":
        return batch.contiguous(memory_format=torch.channels_last)
    return batch


class Explainer:
    """Explain a CNN classifier's decisions.

    ``model``: an ``nn.Module`` returning logits (N, C). ``target_layer``: None
    (automatic), a dotted module name such as ``"features.29"``, or the module.
    """

    def __init__(self, model: nn.Module, target_layer: str | nn.Module | None = None):
        self.model = model
        self._suffixes: dict = {}
        if isinstance(target_layer, nn.Module):
            self._layer_name = module_name(model, target_layer)
        elif isinstance(target_layer, str):
            get_module(model, target_layer)
            self._layer_name = target_layer
        elif target_layer is None:
            self._layer_name = family_target_layer(model)  # may stay None until the first call
        else:
            raise TypeError("target_layer must be None, a module name or an nn.Module")

    @property
    def target_layer(self) -> str | None:
        return self._layer_name

    def __call__(self, x, targets=None, methods: Sequence[str] = DEFAULT_METHODS, params=None) -> Explanation:
        return self.explain(x, targets, methods, params)

    def explain(
        self,
        x: torch.Tensor,
        targets=None,
        methods: Iterable[str] | str = DEFAULT_METHODS,
        params: dict | None = None,
    ) -> Explanation:
        """Explain ``x`` (N, 3, H, W, preprocessed) for ``targets`` (int, (N,) or (N, K);
        None: each image's top-1 class). ``params`` maps a method to its parameters
        (``{"integrated_gradients": {"steps": 32}}``); the rest keep their defaults.
        Returns an :class:`Explanation`."""
        if isinstance(methods, str):
            methods = (methods,)
        methods = tuple(dict.fromkeys(methods))
        needs = required_ingredients(methods)
        resolved = resolve_params(methods, params)
        if not isinstance(x, torch.Tensor) or x.ndim != 4:
            raise ValueError("x must be a float tensor shaped (N, C, H, W)")
        param = next(self.model.parameters(), None)
        device = param.device if param is not None else x.device
        dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
        rules = [r for r in (GUIDED, DECONV) if r in needs]
        why = " / ".join(m for m in methods if METHODS[m].needs & {GUIDED, DECONV, BIAS_GRADS}) or "the guided rule"
        wants_layer = bool({LAYER_GRAD, ACTS} & needs)
        input_grad = bool(rules) or bool({PLAIN, BIAS_GRADS} & needs)

        with torch.inference_mode(False), torch.enable_grad(), _ModelGuard(self.model):
            x = x.detach().to(device=device, dtype=dtype)
            if x.is_inference():
                x = x.clone()
            if self._layer_name is None and wants_layer:
                self._layer_name = detect_by_tracing(self.model, x[:1])
            layer = get_module(self.model, self._layer_name) if wants_layer else None
            if rules:
                _check_modules(self.model, why)
            bias_layers = _bias_layers(self.model) if BIAS_GRADS in needs else []
            if input_grad:
                x.requires_grad_(True)
            store: dict[str, torch.Tensor] = {}
            bias_outputs: dict[int, torch.Tensor] = {}

            def hook(module, inputs, output):
                if not isinstance(output, torch.Tensor):
                    raise ValueError(f"target layer {self._layer_name!r} does not return a tensor")
                if LAYER_GRAD not in needs:
                    store["acts"] = output.detach().clone()  # an in-place op downstream cannot change it
                    return None
                if not output.requires_grad:  # CAM-only call: nothing below the layer needs a graph
                    output = output.detach().requires_grad_(True)
                store["acts"] = output
                return output.clone()

            def bias_hook(module, inputs, output):
                # a clone downstream, so that an in-place ReLU cannot change the tensor we differentiate by
                bias_outputs[id(module)] = output
                return output.clone()

            state = _RuleState()
            handles = [layer.register_forward_hook(hook)] if wants_layer else []
            handles += [m.register_forward_hook(bias_hook) for m, _ in bias_layers]
            try:
                if rules or bias_layers:
                    with _GuidedMode(state, why):
                        scores = self.model(x)
                else:
                    scores = self.model(x)
            finally:
                for handle in handles:
                    handle.remove()
            if not isinstance(scores, torch.Tensor) or scores.ndim != 2:
                raise ValueError("the model must return logits shaped (N, C)")
            n, c = scores.shape
            t = _normalize_targets(scores.argmax(1) if targets is None else targets, n, scores.device)
            if (t < 0).any() or (t >= c).any():
                bad = t[(t < 0) | (t >= c)][0].item()
                raise ValueError(f"target {bad} is out of range for a model with {c} classes")
            kk = t.shape[1]
            raw = store.get("acts")
            if wants_layer and raw is None:
                raise ValueError(f"target layer {self._layer_name!r} was not called in the forward pass")
            if LAYER_GRAD in needs and not raw.requires_grad:
                raise ValueError(f"the scores do not depend on the target layer {self._layer_name!r}")
            layout = self._layout(raw) if raw is not None else None

            passes = [(LAYER_GRAD, k) for k in range(kk)] if LAYER_GRAD in needs else []
            passes += [(r, k) for r in rules for k in range(kk)]
            passes += [(PLAIN, k) for k in range(kk)] if PLAIN in needs else []
            passes += [(BIAS_GRADS, k) for k in range(kk)] if BIAS_GRADS in needs else []
            layer_grads: list[torch.Tensor] = []
            input_grads: dict[str, list[torch.Tensor]] = {r: [] for r in rules + [PLAIN]}
            bias_grads = []
            wrt_bias = [bias_outputs[id(m)] for m, _ in bias_layers]
            for i, (what, k) in enumerate(passes):
                selected = scores.gather(1, t[:, k : k + 1]).sum()
                retain = i < len(passes) - 1
                state.rule = {GUIDED: GUIDED_RULE, DECONV: DECONV_RULE}.get(what, NORMAL)
                if what == LAYER_GRAD:
                    (g,) = torch.autograd.grad(selected, raw, retain_graph=retain)
                    layer_grads.append(to_grid(g, layout))
                elif what == BIAS_GRADS:
                    gx, *gs = torch.autograd.grad(selected, [x, *wrt_bias], retain_graph=retain, allow_unused=True)
                    pairs = [(g, b) for g, (_, b) in zip(gs, bias_layers) if g is not None]
                    bias_grads.append((gx, pairs))
                else:
                    (g,) = torch.autograd.grad(selected, x, retain_graph=retain)
                    input_grads[what].append(g)
            del wrt_bias
            bias_outputs.clear()

            model = self.model

            def forward(batch, grad=False):
                with torch.set_grad_enabled(grad):
                    return model(batch if grad else _convolution_friendly(batch))

            def forward_with_layer_output(batch, output):
                suffix = self._suffix()
                if suffix is not None:  # the layers before the target are not run again
                    with torch.no_grad():
                        return suffix(output)
                handle = layer.register_forward_hook(lambda module, inputs, out: output)
                try:
                    with torch.no_grad():
                        return model(batch)
                finally:
                    handle.remove()

            with torch.no_grad():
                raw = raw.detach() if raw is not None else None
                ing = Ingredients(
                    to_grid(raw, layout) if raw is not None else None,
                    layer_grads,
                    input_grads,
                    x.shape[-2:],
                    kk,
                    x=x.detach(),
                    targets=t,
                    scores=scores.detach(),
                    params=resolved,
                    bias_grads=bias_grads,
                    forward=forward,
                    forward_with_layer_output=forward_with_layer_output,
                    raw_acts=raw,
                    channel_dim=1 if layout in (None, "nchw") else raw.ndim - 1,
                )
                out = Explanation()
                for name in methods:
                    out[name] = ing.method(name).detach().float()
        out.scores = scores.detach().float()
        out.targets = t.detach()
        out.target_layer = self._layer_name
        out.guided_relus = state.count
        out.params = resolved
        return out

    def _suffix(self):
        if self._layer_name not in self._suffixes:
            self._suffixes[self._layer_name] = layer_suffix(self.model, self._layer_name)
        return self._suffixes[self._layer_name]

    def _layout(self, raw: torch.Tensor) -> str:
        """How the target layer's output holds its map: "nchw", "nhwc" or "tokens"."""
        if raw.ndim == 3:
            return "tokens"
        if raw.ndim == 4:
            return family_layout(self.model) or "nchw"
        raise ValueError(
            f"the target layer {self._layer_name!r} returns a {raw.ndim}-D tensor; CAM methods need a "
            "spatial map (N, C, h, w) or tokens (N, T, C)"
        )
