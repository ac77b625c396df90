"""Celery tasks. Tasks named `gpu_*` are routed to the `gpu` queue (see config/settings.py)."""

from celery import shared_task


@shared_task(name="studies.tasks.gpu_probe")
def gpu_probe() -> dict:
    """Report what a GPU worker runs on: used by ops to see that a worker is alive and which device it has."""
    import torch

    import explain_engine
    from studies.engine_runtime import resolve_device

    return {
        "device": resolve_device(),
        "torch": torch.__version__,
        "engine": explain_engine.ENGINE_VERSION,
        "cuda_available": torch.cuda.is_available(),
    }
