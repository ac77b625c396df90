"""The pages a participant sees when the site cannot answer, instead of a bare "Server Error".

Both say that the answers so far are safe and reload themselves after a few seconds; the reload
lands on the page that failed, so the participant continues where they were. They are rendered
without the database and without the request's context (the failure may be the database).

- 503: the database is unreachable (a restart, a failover): `DatabaseUnavailableMiddleware`
  turns the connection error of any view into this page, with Retry-After;
- 500: anything else, through `handler500` in config/urls.py.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template import loader

from .participants.views import content_security_policy

logger = logging.getLogger(__name__)
RETRY_AFTER_S = 5


def unavailable_page(status: int) -> HttpResponse:
    html = loader.render_to_string(f"{status}.html", {"retry_after_s": RETRY_AFTER_S})
    response = HttpResponse(html, status=status)
    response["Retry-After"] = str(RETRY_AFTER_S)
    response["Cache-Control"] = "no-store"
    response["Content-Security-Policy"] = content_security_policy()
    return response


def server_error(request, *args, **kwargs) -> HttpResponse:
    return unavailable_page(500)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, (OperationalError, InterfaceError)):
            logger.warning("database unavailable during %s %s: %s", request.method, request.path, exception)
            return unavailable_page(503)
        return None
