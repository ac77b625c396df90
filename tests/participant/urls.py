"""Test-only URLconf: the real URLs plus media serving, for the live_server browser tests.

In production stimulus images never pass through Django (whitenoise or the web server serves
MEDIA_ROOT with cache headers; see issue 8). config/urls.py serves media only when DEBUG, and the
tests run with DEBUG off, so the browser tests swap in this URLconf.
"""

from django.conf import settings
from django.urls import re_path
from django.views.static import serve

from config.urls import urlpatterns as site_urlpatterns

urlpatterns = [
    *site_urlpatterns,
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
]
