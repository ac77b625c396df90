"""Where the Django side meets explain_engine: device choice for workers."""

from django.conf import settings


def resolve_device() -> str:
    configured = settings.TORCH_DEVICE
    if configured and configured != "auto":
        return configured
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
