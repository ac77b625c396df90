import os

import pytest
import redis
from django.conf import settings

from tests.support.browser import launch
from tests.support.seaweedfs import s3_media, seaweedfs  # noqa: F401 - fixtures
from tests.support.worker import WorkerProcess

# Playwright's sync API runs an event loop in the test thread; Django would otherwise refuse ORM calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


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
