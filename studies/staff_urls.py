"""URL patterns; gathered by studies/urls.py under the `studies` namespace.

Staff only: generation progress (JSON), stimulus provenance, photographs and raw maps.
"""

from django.urls import path

from config.lazy_urls import LazyViews

from . import staff_views
from .tools import explorer_views

analysis_views = LazyViews("studies.tools.analysis_views")  # the analysis stack loads on a staff request, not at start

urlpatterns = [
    path(
        "staff/studies/<int:study_id>/generation/progress.json",
        staff_views.generation_progress,
        name="generation-progress",
    ),
    path("staff/stimuli/<int:pk>/", staff_views.stimulus_detail, name="stimulus-detail"),
    path("staff/explorer/", explorer_views.explorer_page, name="explorer"),
    path("staff/explorer/files/<str:key>/<str:filename>", explorer_views.explorer_file, name="explorer-file"),
    path("staff/models/<int:model_id>/failures/", analysis_views.model_failures, name="model-failures"),
    path("staff/models/<int:model_id>/bias/", analysis_views.model_bias, name="model-bias"),
    path("staff/stimuli/<int:pk>/raw-map.npy", staff_views.raw_map_file, name="stimulus-raw-map"),
    path("staff/images/<int:pk>/file", staff_views.image_file, name="image-file"),
]
