"""Two workers with no shared disk generate a study into the bucket, one of them killed mid-job;
participants play it, faithfulness and export run from the bucket, and nothing lands on any local disk."""

import csv
import io

import pytest
from PIL import Image

from explain_engine.synthetic import CLASSES
from studies import lifecycle
from studies.management.commands.simulate_participants import LocalServer
from studies.models import Response, Stimulus, Study
from studies.participants.bots import do_simulate
from studies.results import export
from studies.results.faithfulness import do_request_report
from studies.stimuli import generation
from studies.stimuli.imports import import_image_set
from studies.stimuli.registry import register_model
from tests.studies_admin.conftest import save_random_net, scenes_archive
from tests.studies_admin.test_generation_on_worker import wait_for_first_stimulus, wait_for_job
from tests.support.worker import WorkerProcess

pytestmark = [pytest.mark.storage, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def files_in(folder) -> list:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.fixture
def two_workers(s3_media, tmp_path):
    from tests.conftest import flush_test_broker

    flush_test_broker()
    workers = []
    for name in ("a", "b"):
        home = tmp_path / f"worker-{name}"
        (home / "media").mkdir(parents=True)
        env = {
            **s3_media.env(),
            "MEDIA_ROOT": str(home / "media"),
            "MEDIA_CACHE_DIR": str(home / "cache"),
            # A killed worker's chunk comes back within seconds; small chunks keep both workers busy.
            "CELERY_VISIBILITY_TIMEOUT": "4",
            "CELERY_UNACKED_RESTORE_INTERVAL": "1",
            "GENERATION_CHUNK_IMAGES": "2",
            "TORCH_NUM_THREADS": "1",
        }
        workers.append(WorkerProcess(tmp_path / f"worker-{name}.log", env=env))
    for worker in workers:
        worker.launch()
    try:
        for worker in workers:
            worker.wait_ready(90)
        yield workers
    finally:
        for worker in workers:
            worker.stop()
        flush_test_broker()


def test_two_workers_without_shared_disk_make_a_study_that_is_played_and_analysed_from_the_bucket(
    s3_media, two_workers, tmp_path, settings
):
    web_root = tmp_path / "web-media-root"
    model = register_model(
        "strong", "shapes_strong", checkpoint=str(save_random_net(tmp_path / "strong.pt")), categories=list(CLASSES)
    )
    images = import_image_set("scenes", io.BytesIO(scenes_archive(8, seed=3)))
    study = Study.objects.create(
        name="In the bucket",
        slug="bucket",
        kind="class_discrimination",
        methods=["gradcam", "guided_backprop"],
        model=model,
        image_set=images,
        trials_per_participant=4,
        seed=2,
        attention_checks_per_participant=1,
    )
    assert s3_media.keys("checkpoints/") and len(s3_media.keys("images/")) == 8

    job = generation.do_start_generation(study)
    wait_for_first_stimulus()
    two_workers[0].kill()
    job.refresh_from_db()
    assert job.status == "running" and job.done < job.total, "the kill came after the job ended"

    job = wait_for_job(job, timeout=90)
    assert (job.status, job.failed, job.done) == ("done", 0, job.total), list(job.failures.values())
    # Every object a participant could be sent is whole: no half-written PNG from the killed worker.
    stimulus_keys = s3_media.keys("stimuli/")
    for key in stimulus_keys:
        body = s3_media.client().get_object(Bucket=s3_media.bucket, Key=key)["Body"].read()
        Image.open(io.BytesIO(body)).load()
    names = set(Stimulus.objects.values_list("png", flat=True))
    assert names <= set(stimulus_keys)
    assert {n.split("/")[0] for n in s3_media.keys()} == {"checkpoints", "images", "maps", "stimuli"}

    study = lifecycle.do_launch(Study.objects.get(pk=study.pk))
    with LocalServer() as server:
        report = do_simulate(study, base_url=server.url, n=3, policy="oracle", concurrency=3)
    assert report.completed == 3, [r.error for r in report.failed]
    # Every image came from the bucket, anonymously (the pages link the store, not the web node).
    assert len(report.timings.latencies["stimulus"]) >= 3 * 4 and not report.timings.errors

    answers = Response.objects.filter(assignment__participant__study=study).count()
    rows = list(csv.DictReader(io.StringIO("".join(export.export_responses(study)))))
    assert len(rows) == answers == sum(r.answers for r in report.results)

    faithfulness = do_request_report(study, max_images=2, wait_timeout=60)
    assert faithfulness.status == "done", faithfulness.error
    assert faithfulness.results["summary"]

    for root in (web_root, tmp_path / "worker-a" / "media", tmp_path / "worker-b" / "media"):
        assert files_in(root) == [], f"files written under MEDIA_ROOT {root}"
    # The surviving worker read its inputs from the bucket into its own cache.
    assert files_in(tmp_path / "worker-b" / "cache")
