"""A real worker on Redis takes tasks from the `gpu` queue and returns their results."""

import pytest

from config.celery import app
from studies.tasks import gpu_probe


def test_gpu_tasks_are_routed_to_the_gpu_queue():
    route = app.amqp.router.route({}, gpu_probe.name, args=(), kwargs={})
    assert route["queue"].name == "gpu"


@pytest.mark.worker
def test_a_real_worker_runs_a_gpu_task_and_returns_its_result(celery_worker):
    result = gpu_probe.apply_async()
    payload = result.get(timeout=60)
    assert payload["device"] == "cpu"  # TORCH_DEVICE=cpu under `make test`
    assert payload["engine"]
    assert payload["torch"].startswith("2.14")
