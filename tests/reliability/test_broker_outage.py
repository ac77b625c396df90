"""Redis stopped in the middle of a generation job: the job waits, and completes when Redis returns.

The test runs its own Redis with an append-only file (as docker-compose's does), so that the queue
survives the outage, and a real worker connected to it.
"""

import io
import socket
import subprocess
import time

import pytest
from kombu import Connection

from studies.models import Stimulus, Study
from studies.stimuli import generation
from studies.stimuli.imports import import_image_set
from studies.tasks import gpu_plan_generation
from tests.studies_admin.conftest import scenes_archive
from tests.studies_admin.test_generation_on_worker import wait_for_job
from tests.support.worker import WorkerProcess

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.faults]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    def __init__(self, folder):
        self.folder, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        subprocess.run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.folder),
                "--logfile",
                str(self.folder / "redis.log"),
            ],
            check=True,
        )
        for _ in range(50):
            if (
                subprocess.run(
                    ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
                ).stdout.strip()
                == "PONG"
            ):
                return
            time.sleep(0.1)
        raise RuntimeError("private redis did not start")

    def stop(self):
        subprocess.run(["redis-cli", "-p", str(self.port), "shutdown"], capture_output=True)
        for _ in range(50):
            if subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).returncode != 0:
                return
            time.sleep(0.1)


@pytest.fixture
def private_redis(tmp_path):
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


def test_generation_waits_for_redis_and_completes_when_it_returns(
    private_redis, tmp_path, monkeypatch, media_root, strong_model
):
    monkeypatch.setenv("CELERY_VISIBILITY_TIMEOUT", "4")
    monkeypatch.setenv("CELERY_UNACKED_RESTORE_INTERVAL", "1")
    monkeypatch.setenv("TORCH_NUM_THREADS", "1")
    monkeypatch.setenv("GENERATION_CHUNK_IMAGES", "2")
    images = import_image_set("outage", io.BytesIO(scenes_archive(10, seed=5)))
    study = Study.objects.create(
        name="Outage",
        slug="outage",
        kind="class_discrimination",
        methods=["gradcam", "guided_backprop"],
        model=strong_model,
        image_set=images,
        seed=4,
        attention_checks_per_participant=0,
    )
    worker = WorkerProcess(tmp_path / "worker.log", broker_url=private_redis.url)
    worker.start()
    try:
        with Connection(private_redis.url) as conn:
            job = generation.do_start_generation(
                study, enqueue=lambda job_id: gpu_plan_generation.apply_async((job_id,), connection=conn)
            )
            deadline = time.monotonic() + 120
            while not Stimulus.objects.exists():
                assert time.monotonic() < deadline, "the worker made no stimulus"
                time.sleep(0.05)
        private_redis.stop()
        time.sleep(3)
        job.refresh_from_db()
        made_during_outage = Stimulus.objects.count()
        assert job.status == "running" and made_during_outage < job.total, "the outage came after the job ended"

        private_redis.start()
        job = wait_for_job(job, timeout=240)
    finally:
        worker.stop()
    assert (job.status, job.failed) == ("done", 0), list(job.failures.values_list("reason", flat=True))
    assert job.done == job.total == Stimulus.objects.count() == 10 * 2 * 2
    keys = list(Stimulus.objects.values_list("content_key", flat=True))
    assert len(keys) == len(set(keys))
