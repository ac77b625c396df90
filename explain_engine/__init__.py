"""explain_engine: exact and fast Grad-CAM, Guided Backprop, Guided Grad-CAM and kin
for torchvision CNNs (pure PyTorch; no Django).

    from explain_engine import load_model, Explainer
    bundle = load_model("vgg16", weights=None)
    ex = Explainer(bundle.module, bundle.target_layer)
    out = ex.explain(x, targets, methods=("gradcam", "guided_backprop", "guided_gradcam"))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

ENGINE_VERSION = "1.0.0"

# The public names are loaded on first use (PEP 562), so that a module which needs no tensor, such
# as `explain_engine.geometry`, can be imported without importing torch: the web processes import
# the geometry to describe stimuli and would otherwise carry torch (hundreds of MB) in every worker.
_LAZY = {
    "DEFAULT_METHODS": "core",
    "Explainer": "core",
    "Explanation": "core",
    "UnsupportedActivationError": "core",
    "METHODS": "methods",
    "Method": "methods",
    "register": "methods",
    "ModelBundle": "models",
    "known_architectures": "models",
    "load_model": "models",
}

__all__ = [
    "ENGINE_VERSION",
    "METHODS",
    "Method",
    "register",
    "Explainer",
    "Explanation",
    "UnsupportedActivationError",
    "DEFAULT_METHODS",
    "ModelBundle",
    "load_model",
    "known_architectures",
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:
    from .core import DEFAULT_METHODS, Explainer, Explanation, UnsupportedActivationError
    from .methods import METHODS, Method, register
    from .models import ModelBundle, known_architectures, load_model
