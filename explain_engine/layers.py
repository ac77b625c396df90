"""Target layer selection: the paper's layers and automatic detection."""

from __future__ import annotations

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
    stage of trunk_output.
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
    return None


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
