"""docker-compose.yml deploys past one machine: media in its S3 service with the bucket made at start-up,
GPU workers that scale with `--scale worker=N` and share no disk, one scheduler, PgBouncer on demand."""

from pathlib import Path

import pytest
from ruamel.yaml import YAML  # comes with check-jsonschema (requirements-dev.txt)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose():
    return YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())


def test_media_live_in_the_s3_service_and_the_web_makes_the_bucket_at_start_up(compose):
    app = compose["x-app"]["environment"]
    assert app["MEDIA_STORAGE"] == "${MEDIA_STORAGE:-s3}" and "s3:8333" in app["AWS_S3_ENDPOINT_URL"]
    assert "s3" in compose["services"] and "seaweedfs" in compose["services"]["s3"]["image"]
    web = compose["services"]["web"]["command"]
    assert web.index("ensure_media_bucket") < web.index("gunicorn")


def test_workers_scale_and_share_nothing_on_disk(compose):
    worker = compose["services"]["worker"]
    # A fixed name or host port would stop `--scale worker=N`; a volume would be a shared disk.
    assert not {"container_name", "ports", "volumes"} & set(worker)
    assert not any("volumes" in s for name, s in compose["services"].items() if name in ("web", "worker", "beat"))
    assert "CELERY_WORKER_QUEUES" in compose["x-app"]["environment"] and "-Q" not in worker["command"]


def test_pgbouncer_is_an_optional_profile(compose):
    assert compose["services"]["pgbouncer"]["profiles"] == ["pgbouncer"]
    entry = (ROOT / "deploy" / "pgbouncer" / "entrypoint.sh").read_text()
    assert "pool_mode = transaction" in entry
