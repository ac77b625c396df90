"""Test-only URLconf: the real URLs plus media serving, for the live_server browser tests.

In production stimulus images never pass through Django: config/media.py (WhiteNoise) wraps the
WSGI application and serves MEDIA_ROOT/stimuli/ with cache headers. pytest-django's live_server
runs Django's own handler, not config.wsgi, and config/urls.py serves media only when DEBUG, so the
browser tests swap in this URLconf, which serves the same public folder (stimuli only).
"""

from django.conf import settings
from django.urls import re_path
from django.views.static import serve

from config.urls import handler500  # noqa: F401  (the site's error page, here too)
from config.urls import urlpatterns as site_urlpatterns

urlpatterns = [
    *site_urlpatterns,
    re_path(rf"^{settings.MEDIA_URL.strip('/')}/(?P<path>stimuli/.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
]
