import os
import shutil
import tempfile
from pathlib import Path

import pytest
import redis
from django.conf import settings

from tests.support.browser import launch
from tests.support.researcher_world import researcher_files, researcher_world  # noqa: F401 (fixtures)
from tests.support.seaweedfs import s3_media, seaweedfs  # noqa: F401 - fixtures
from tests.support.worker import WorkerProcess

# Playwright's sync API runs an event loop in the test thread; Django would otherwise refuse ORM calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_addoption(parser):
    parser.addoption(
        "--through-pgbouncer",
        action="store_true",
        help="run every database connection (tests, workers, web nodes) through PgBouncer in transaction mode",
    )


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker, request):
    """pytest-django's test database; with --through-pgbouncer, reached through PgBouncer once created."""
    if not request.config.getoption("--through-pgbouncer"):
        yield
        return
    from django.db import connections

    from tests.support.pgbouncer import PgBouncer

    db = connections["default"].settings_dict
    direct = (db["HOST"], db["PORT"], db["DISABLE_SERVER_SIDE_CURSORS"])
    # Not under pytest's private temporary folder: PgBouncer runs as the postgres account.
    workdir = Path(tempfile.mkdtemp(prefix="visexp-pgbouncer-"))
    bouncer = PgBouncer(workdir, db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432), db["USER"])
    bouncer.start()
    connections.close_all()
    db["HOST"], db["PORT"], db["DISABLE_SERVER_SIDE_CURSORS"] = "127.0.0.1", bouncer.port, True
    os.environ["DISABLE_SERVER_SIDE_CURSORS"] = "1"  # for the workers and web nodes the tests start
    try:
        yield
    finally:
        connections.close_all()
        bouncer.stop()  # closes its server connections, so the test database can be dropped
        db["HOST"], db["PORT"], db["DISABLE_SERVER_SIDE_CURSORS"] = direct
        shutil.rmtree(workdir, ignore_errors=True)


def flush_test_broker() -> None:
    if settings.CELERY_BROKER_URL.startswith("redis"):
        redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    """A real Celery worker (subprocess) sharing the test database and the Redis broker."""
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        pytest.fail("the worker tests need CELERY_BROKER_URL pointing at Redis (run them with `make test`)")
    flush_test_broker()
    worker = WorkerProcess(tmp_path / "worker.log")
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        flush_test_broker()


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium for the session (overrides pytest-playwright's fixture)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = launch(pw)
        try:
            yield chromium
        finally:
            chromium.close()


# --- personas --------------------------------------------------------------------------------
@pytest.fixture
def researcher(db, django_user_model):
    """Rosa, a staff researcher who configures studies in the admin."""
    return django_user_model.objects.create_user("rosa", password="rosa-password-123", is_staff=True, is_superuser=True)


@pytest.fixture
def researcher_client(client, researcher):
    client.force_login(researcher)
    return client


@pytest.fixture
def outsider(db, django_user_model):
    """Otto, a signed-in user who is not staff (for example a participant with an account)."""
    return django_user_model.objects.create_user("otto", password="otto-password-123")


@pytest.fixture
def outsider_client(client, outsider):
    client.force_login(outsider)
    return client


# --- the demo world ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def shipped_demo_models():
    """The trained demo networks shipped in explain_engine/demo_weights, verified on load (no training)."""
    from explain_engine import demo_train

    return demo_train.load_shipped_demo_models(progress=None)
