from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from config.lazy_urls import lazy_include
from studies import health, metrics


def api_urls():
    from studies.api import api

    patterns, app_name, namespace = api.urls
    if (app_name, namespace) != API_URLCONF_NAMES:
        raise RuntimeError(f"the API's URL names are {(app_name, namespace)}, not {API_URLCONF_NAMES}")
    return patterns


# The API is imported on its first request (config/lazy_urls.py); its names are known beforehand.
API_URLCONF_NAMES = ("ninja", "api")

handler500 = "studies.unavailable.server_error"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    lazy_include("api/", api_urls, *API_URLCONF_NAMES),
    path("", include("studies.urls")),
]

if settings.DEBUG:
    # Only stimuli are public, in every mode; staff get photographs and raw maps from staff views.
    from django.conf.urls.static import static

    from config.media import PUBLIC_MEDIA_SUBDIR

    urlpatterns += static(
        f"{settings.MEDIA_URL}{PUBLIC_MEDIA_SUBDIR}/", document_root=f"{settings.MEDIA_ROOT}/{PUBLIC_MEDIA_SUBDIR}"
    )
