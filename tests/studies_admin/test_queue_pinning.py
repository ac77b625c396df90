"""One queue per GPU type: a study or a registered model pins its GPU work to a queue, and a worker
listens on the queues named in CELERY_WORKER_QUEUES."""

import celery.exceptions
import pytest

from config.celery import app
from studies.models import FaithfulnessReport, GenerationJob
from studies.stimuli import generation
from studies.tasks import gpu_faithfulness_report, gpu_generate_chunk, gpu_plan_generation, gpu_probe
from tests.conftest import flush_test_broker
from tests.support.worker import WorkerProcess

from .test_generation_on_worker import wait_for_job


def queue_of(task, *args):
    return app.amqp.router.route({}, task.name, args=args, kwargs={})["queue"].name


def chunk_of(study, model):
    return {"job_id": 0, "study_id": study.pk, "model_id": model.pk, "items": []}


def test_gpu_work_goes_to_gpu_unless_a_study_or_a_model_pins_a_queue(cd_study, strong_model):
    job = GenerationJob.objects.create(study=cd_study)
    report = FaithfulnessReport.objects.create(study=cd_study)
    assert queue_of(gpu_plan_generation, job.pk) == "gpu"
    assert queue_of(gpu_generate_chunk, chunk_of(cd_study, strong_model)) == "gpu"
    assert queue_of(gpu_faithfulness_report, report.pk) == "gpu"

    cd_study.gpu_queue = "gpu-a100"
    cd_study.save()
    assert queue_of(gpu_plan_generation, job.pk) == "gpu-a100"
    assert queue_of(gpu_generate_chunk, chunk_of(cd_study, strong_model)) == "gpu-a100"
    assert queue_of(gpu_faithfulness_report, report.pk) == "gpu-a100"

    # A large model runs on big GPUs whatever the study says.
    strong_model.gpu_queue = "gpu-h100"
    strong_model.save()
    assert queue_of(gpu_generate_chunk, chunk_of(cd_study, strong_model)) == "gpu-h100"
    assert queue_of(gpu_plan_generation, job.pk) == "gpu-a100"
    cd_study.gpu_queue = ""
    cd_study.save()
    assert queue_of(gpu_plan_generation, job.pk) == "gpu-h100"  # planning runs the model too


def test_a_task_for_a_row_that_is_gone_still_routes_to_the_default_gpu_queue(db):
    assert queue_of(gpu_plan_generation, 987654) == "gpu"  # the task itself reports the missing job
    assert queue_of(gpu_generate_chunk, {"study_id": 1, "model_id": 2}) == "gpu"


def test_tasks_that_run_no_network_stay_on_the_celery_queue():
    assert app.amqp.router.route({}, "studies.tasks.purge_something", args=(), kwargs={})["queue"].name == "celery"


def test_a_queue_name_that_a_worker_could_not_listen_on_is_a_form_error(cd_study):
    from django.forms.models import modelform_factory

    from studies.models import Study

    form = modelform_factory(Study, fields=["gpu_queue"])({"gpu_queue": "gpu a100;rm"}, instance=cd_study)
    assert not form.is_valid() and "queue name" in str(form.errors["gpu_queue"])


@pytest.mark.worker
def test_a_worker_listening_on_its_gpu_type_runs_the_pinned_study_and_nothing_else(
    transactional_db, cd_study, tmp_path
):
    flush_test_broker()
    worker = WorkerProcess(tmp_path / "a100.log", queues=None, env={"CELERY_WORKER_QUEUES": "gpu-a100"})
    worker.start()
    try:
        cd_study.gpu_queue = "gpu-a100"
        cd_study.save()
        job = wait_for_job(generation.do_start_generation(cd_study), timeout=120)
        assert (job.status, job.done, job.failed) == ("done", job.total, 0)
        with pytest.raises(celery.exceptions.TimeoutError):
            gpu_probe.apply_async().get(timeout=3)  # the `gpu` queue: no worker here listens on it
    finally:
        worker.stop()
        flush_test_broker()
