"""explain_engine: exact and fast Grad-CAM, Guided Backprop, Guided Grad-CAM and kin
for torchvision CNNs (pure PyTorch; no Django).

    from explain_engine import load_model, Explainer
    bundle = load_model("vgg16", weights=None)
    ex = Explainer(bundle.module, bundle.target_layer)
    out = ex.explain(x, targets, methods=("gradcam", "guided_backprop", "guided_gradcam"))
"""

ENGINE_VERSION = "1.0.0"

from .core import DEFAULT_METHODS, Explainer, Explanation, UnsupportedActivationError  # noqa: E402
from .methods import METHODS, Method, register  # noqa: E402
from .models import ModelBundle, known_architectures, load_model  # noqa: E402

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
