"""Target layer selection: the paper's layers and automatic detection."""

from __future__ import annotations

import math

from torch import nn


def module_name(model: nn.Module, module: nn.Module) -> str:
    for name, m in model.named_modules():
        if m is module:
            return name
    raise ValueError("target_layer module is not a submodule of the model")


def get_module(model: nn.Module, name: str) -> nn.Module:
    modules = dict(model.named_modules(remove_duplicate=False))
    if name not in modules:
        raise ValueError(f"model has no layer named {name!r}")
    return modules[name]


def _last_child_name(model: nn.Module, prefix: str) -> str:
    seq = get_module(model, prefix)
    children = list(seq.named_children())
    if not children:
        return prefix
    return f"{prefix}.{children[-1][0]}"


def family_target_layer(model: nn.Module) -> str | None:
    """The target layer by architecture family, or None when the family is unknown.

    VGG and AlexNet: the last ReLU of ``features`` (VGG-16 relu5_3 = features.29,
    AlexNet relu5 = features.11, the paper's layers). ResNet: the last block of
    layer4. DenseNet: features.norm5 (its ReLU is functional, applied after).
    MobileNet v2/v3, EfficientNet, ConvNeXt, the demo ShapesNet: the last module of
    ``features`` (the last spatial map before global pooling). RegNet: the last
    stage of trunk_output. Vision transformer: the first LayerNorm of the last
    encoder block (pytorch-grad-cam's documented choice: after it, only the class
    token reaches the head, so later layers have no gradient at the patch tokens).
    Swin transformer: the final LayerNorm (its (N, h, w, C) map is pooled next).
    """
    cls = type(model).__name__
    try:
        from .demo_nets import DEMO_TARGET_LAYER, ShapesNet

        if isinstance(model, ShapesNet):
            return DEMO_TARGET_LAYER
    except ImportError:  # pragma: no cover
        pass
    if cls in ("VGG", "AlexNet"):
        relus = [n for n, m in model.features.named_children() if isinstance(m, nn.ReLU)]
        if relus:
            return f"features.{relus[-1]}"
    if hasattr(model, "layer4") and isinstance(model.layer4, nn.Sequential):
        return _last_child_name(model, "layer4")
    if cls == "DenseNet" and hasattr(model.features, "norm5"):
        return "features.norm5"
    if cls == "RegNet" and hasattr(model, "trunk_output"):
        return _last_child_name(model, "trunk_output")
    if cls in ("MobileNetV2", "MobileNetV3", "EfficientNet", "ConvNeXt") and hasattr(model, "features"):
        return _last_child_name(model, "features")
    if cls == "VisionTransformer" and hasattr(model, "encoder"):
        return f"{_last_child_name(model, 'encoder.layers')}.ln_1"
    if cls == "SwinTransformer" and hasattr(model, "norm"):
        return "norm"
    return None


#: families whose 4-D tensors are channels-last (N, h, w, C)
CHANNELS_LAST_FAMILIES = ("SwinTransformer",)


def family_layout(model: nn.Module) -> str | None:
    """ "nhwc" for the families whose feature maps are channels-last; None otherwise."""
    return "nhwc" if type(model).__name__ in CHANNELS_LAST_FAMILIES else None


def to_grid(t, layout: str | None):
    """A target layer's output (or its gradient) as a (N, C, h, w) map.

    "nchw": as it is. "nhwc": permuted. "tokens" (N, T, C): a leading class token is
    dropped when T = 1 + s * s, and the s * s patch tokens become the grid, as
    pytorch-grad-cam's documented ``reshape_transform`` does for vision transformers."""
    if layout in (None, "nchw"):
        return t
    if layout == "nhwc":
        return t.permute(0, 3, 1, 2)
    n, tokens, c = t.shape
    side = math.isqrt(tokens)
    if side * side != tokens:
        side = math.isqrt(tokens - 1)
        if side * side != tokens - 1:
            raise ValueError(f"cannot arrange {tokens} tokens in a square grid (with or without a class token)")
        t = t[:, 1:]
    return t.reshape(n, side, side, c).permute(0, 3, 1, 2)


def detect_by_tracing(model: nn.Module, x) -> str:
    """Generic detection: the last module in execution order (outermost when several
    return the same tensor) whose output is a spatial 4-D map (h, w > 1), pooling
    and dropout modules excepted: the last spatial feature map before global pooling."""
    import torch

    records: list[tuple[str, tuple]] = []
    hooks = []
    names = {m: n for n, m in model.named_modules() if n}

    def hook(mod, inp, out):
        if isinstance(out, torch.Tensor):
            records.append((names[mod], tuple(out.shape)))

    try:
        for m in names:
            hooks.append(m.register_forward_hook(hook))
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    pooling = (
        nn.AdaptiveAvgPool2d,
        nn.AdaptiveMaxPool2d,
        nn.AvgPool2d,
        nn.MaxPool2d,
        nn.Dropout,
        nn.Dropout2d,
        nn.Identity,
    )
    modules = dict(model.named_modules())
    candidate = None
    for name, shape in records:
        if len(shape) == 4 and shape[2] > 1 and shape[3] > 1 and not isinstance(modules[name], pooling):
            candidate = name
    if candidate is None:
        raise ValueError("cannot detect a target layer automatically; pass target_layer=")
    return candidate


def layer_suffix(model: nn.Module, name: str):
    """The part of ``model`` after the layer ``name`` as a module of that layer's output, or None.

    Found by tracing the model with torch.fx; it exists when nothing after the layer reads an
    earlier tensor of the forward (true of VGG, ResNet and DenseNet at their usual layers, false of
    a transformer block's inner layer, whose residual adds the block's input). Perturbation
    methods that change only the layer's output then skip recomputing everything before it.
    The suffix shares the model's modules (no copy)."""
    from torch import fx

    class _Tracer(fx.Tracer):  # the target layer stays one node even when it is a composite block
        def is_leaf_module(self, m, qualified_name):
            return qualified_name == name or super().is_leaf_module(m, qualified_name)

    try:
        graph = _Tracer().trace(model)
        traced = fx.GraphModule(model, graph)
    except Exception:  # noqa: BLE001 - a model fx cannot trace simply has no suffix
        return None
    start = next((n for n in graph.nodes if n.op == "call_module" and n.target == name), None)
    if start is None:
        return None
    after: set = set()
    for node in graph.nodes:  # topological order
        if node is start or any(a is start or a in after for a in node.all_input_nodes):
            if node is not start:
                after.add(node)
    from_input: set = set()
    for node in graph.nodes:
        if node.op == "placeholder" or any(a in from_input for a in node.all_input_nodes):
            from_input.add(node)
    output = next(n for n in graph.nodes if n.op == "output")
    if output not in after:
        return None
    needed_constants = set()
    for node in after:
        for a in node.all_input_nodes:
            if a is start or a in after:
                continue
            if a in from_input:
                return None  # reads a tensor computed before the layer
            needed_constants.add(a)
    new = fx.Graph()
    env = {start: new.placeholder("layer_output")}
    for node in graph.nodes:
        if node in needed_constants or node in after:
            env[node] = new.node_copy(node, lambda a: env[a])
    return fx.GraphModule(traced, new)
