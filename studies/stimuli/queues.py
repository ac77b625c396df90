"""Which Celery queue runs a task: one queue per GPU type, pinned by a study or a registered model.

Workers listen on the queues in CELERY_WORKER_QUEUES (`gpu,celery` by default; a host with A100s
might list `gpu-a100`). Tasks named `gpu_*` go to the queue of the model they run (`gpu_queue` of
the registered model), else of their study, else `gpu`; everything else goes to `celery`.
The router reads the pins from the database when a task is sent, so the callers that enqueue
(generation, faithfulness) need not know about queues.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist

DEFAULT_GPU_QUEUE = "gpu"


def default_gpu_queue() -> str:
    return getattr(settings, "CELERY_DEFAULT_GPU_QUEUE", DEFAULT_GPU_QUEUE)


def study_queue(study) -> str:
    """The queue for work that concerns the whole study (planning, faithfulness)."""
    if study.gpu_queue:
        return study.gpu_queue
    for model in (study.model, study.stronger_model, study.weaker_model):
        if model is not None and model.gpu_queue:
            return model.gpu_queue
    return default_gpu_queue()


def model_queue(model, study) -> str:
    """The queue for one model's chunk of a study's stimuli."""
    return model.gpu_queue or study.gpu_queue or default_gpu_queue()


def _queue_for(name: str, args) -> str:
    from ..models import ClassifierModel, FaithfulnessReport, GenerationJob, Study

    related = ("model", "stronger_model", "weaker_model")
    if name.endswith("gpu_plan_generation"):
        job = GenerationJob.objects.select_related(*(f"study__{r}" for r in related)).get(pk=args[0])
        return study_queue(job.study)
    if name.endswith("gpu_generate_chunk"):
        chunk = args[0]
        return model_queue(ClassifierModel.objects.get(pk=chunk["model_id"]), Study.objects.get(pk=chunk["study_id"]))
    if name.endswith("gpu_faithfulness_report"):
        report = FaithfulnessReport.objects.select_related(*(f"study__{r}" for r in related)).get(pk=args[0])
        return study_queue(report.study)
    return default_gpu_queue()


def route_task(name, args, kwargs, options, task=None, **kw):
    """Celery router (CELERY_TASK_ROUTES). None leaves the task on the default `celery` queue."""
    if not name.startswith("studies.tasks.gpu_"):
        return None
    try:
        return {"queue": _queue_for(name, list(args or ()) + list((kwargs or {}).values()))}
    except (ObjectDoesNotExist, LookupError, TypeError, ValueError, AttributeError):
        # A row gone or an unexpected call: the task itself reports that; the default queue runs it.
        return {"queue": default_gpu_queue()}


def queue_depth(name: str) -> int:
    """Messages waiting in a broker queue (0 for a queue nobody declared, and with no broker)."""
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        return 0
    from config.celery import app

    try:
        with app.connection_for_read() as conn:
            return int(conn.default_channel.queue_declare(queue=name, passive=True).message_count)
    except Exception:  # noqa: BLE001 - kombu raises ChannelError for a queue that was never declared
        return 0


def in_flight() -> int:
    """Tasks that workers took and have not acknowledged yet (Redis keeps them in its `unacked` hash)."""
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False) or not settings.CELERY_BROKER_URL.startswith("redis"):
        return 0
    from config.celery import app

    with app.connection_for_read() as conn:
        return int(conn.default_channel.client.hlen(conn.default_channel.unacked_key))
