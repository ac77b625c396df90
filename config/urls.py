from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from studies import health, metrics
from studies.api import api

handler500 = "studies.unavailable.server_error"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("", include("studies.urls")),
]

if settings.DEBUG:
    # Only stimuli are public, in every mode; staff get photographs and raw maps from staff views.
    from django.conf.urls.static import static

    from config.media import PUBLIC_MEDIA_SUBDIR

    urlpatterns += static(
        f"{settings.MEDIA_URL}{PUBLIC_MEDIA_SUBDIR}/", document_root=f"{settings.MEDIA_ROOT}/{PUBLIC_MEDIA_SUBDIR}"
    )
