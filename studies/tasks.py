"""Celery tasks. Tasks named `gpu_*` are routed to the `gpu` queue (see config/settings.py).

Generation: `gpu_plan_generation(job_id)` plans a job and enqueues one `gpu_generate_chunk` per chunk
(chunks hold one model's images, enqueued model by model, so a worker process loads each model once
and keeps it in its cache). Acknowledgement is late (global setting): a worker killed in the middle
of a chunk leaves the message unacknowledged, the broker hands it to another worker, and the chunk's
get-or-create by content key makes the rerun create only what is missing.
"""

import os
from collections import OrderedDict

from celery import shared_task
from django.db import InterfaceError, OperationalError

MODEL_CACHE_SIZE = 3
_MODEL_CACHE: "OrderedDict[tuple, object]" = OrderedDict()


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


def cached_bundle(model):
    """This process's loaded copy of a registered model (kept for the next chunks of the same model)."""
    from studies.engine_runtime import resolve_device
    from studies.stimuli.registry import load_bundle

    device = resolve_device()
    key = (model.pk, model.weights_sha256, model.target_layer, model.display, device)
    if key in _MODEL_CACHE:
        _MODEL_CACHE.move_to_end(key)
        return _MODEL_CACHE[key]
    bundle = load_bundle(model, device)
    _MODEL_CACHE[key] = bundle
    while len(_MODEL_CACHE) > MODEL_CACHE_SIZE:
        _MODEL_CACHE.popitem(last=False)
    return bundle


def model_cache_keys() -> list:
    return list(_MODEL_CACHE)


# Lost database connections (Postgres restarted) are retried; everything else is recorded as a failure.
_RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "max_retries": 20,
}


@shared_task(name="studies.tasks.gpu_plan_generation", **_RETRY)
def gpu_plan_generation(job_id: int) -> dict:
    from studies.stimuli import generation

    chunks = generation.do_plan(job_id, cached_bundle)
    for chunk in chunks:
        gpu_generate_chunk.delay(chunk)
    return {"job": job_id, "chunks": len(chunks)}


@shared_task(name="studies.tasks.gpu_generate_chunk", **_RETRY)
def gpu_generate_chunk(chunk: dict) -> dict:
    import torch

    from studies.engine_runtime import resolve_device
    from studies.stimuli import generation

    device = resolve_device()
    if device == "cpu" and os.environ.get("TORCH_NUM_THREADS"):
        torch.set_num_threads(int(os.environ["TORCH_NUM_THREADS"]))
    counts = generation.do_process_chunk(chunk, cached_bundle, device=device)
    return {"job": chunk["job_id"], "model": chunk["model_id"], **counts}


@shared_task(name="studies.tasks.gpu_faithfulness_report")
def gpu_faithfulness_report(report_id: int) -> dict:
    """The paper's automatic evaluations of a study's methods (occlusion needs the network)."""
    from studies.results.faithfulness import do_run_report

    report = do_run_report(report_id, cached_bundle)
    return {"report": report.pk, "status": report.status}


@shared_task(name="studies.tasks.gpu_model_analysis", **_RETRY)
def gpu_model_analysis(analysis_id: int) -> dict:
    """Dissection, textual explanations, failure modes or bias summary of a model on an image set."""
    from studies.engine_runtime import resolve_device
    from studies.tools.analyses import do_run_analysis

    analysis = do_run_analysis(analysis_id, cached_bundle, device=resolve_device())
    return {"analysis": analysis.pk, "status": analysis.status}


@shared_task(name="studies.tasks.gpu_explore")
def gpu_explore(request: dict) -> dict:
    """The explorer's maps for one image (studies/tools/explorer.py); files land in the content-keyed cache."""
    from studies.engine_runtime import resolve_device
    from studies.tools.explorer import do_explore

    return do_explore(request, cached_bundle, device=resolve_device())


@shared_task(name="studies.tasks.replan_stalled_jobs")
def replan_stalled_jobs() -> list[int]:
    """Periodic (celery beat): generation jobs whose chunks were lost are planned again."""
    from studies.stimuli import stalled

    return stalled.replan_stalled_jobs()
