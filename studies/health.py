"""Liveness of the two services everything needs: the database and the Celery broker."""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from kombu import Connection

from .unavailable import unavailable_page

BROKER_TIMEOUT_S = 2


def database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "down"; the reason goes in the payload
        return f"error: {exc.__class__.__name__}"
    return "ok"


def broker_status() -> str:
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        return "ok (in-process)"
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=BROKER_TIMEOUT_S) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT_S)
    except Exception as exc:
        return f"error: {exc.__class__.__name__}"
    return "ok"


@never_cache
def healthz(request):
    checks = {"database": database_status(), "broker": broker_status()}
    healthy = all(value.startswith("ok") for value in checks.values())
    if not healthy and "text/html" in request.headers.get("Accept", ""):  # a person, not a probe
        return unavailable_page(503)
    return JsonResponse({"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503)
