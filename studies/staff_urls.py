"""URL patterns; gathered by studies/urls.py under the `studies` namespace.

Staff only: generation progress (JSON), stimulus provenance, photographs and raw maps.
"""

from django.urls import path

from . import staff_views

urlpatterns = [
    path(
        "staff/studies/<int:study_id>/generation/progress.json",
        staff_views.generation_progress,
        name="generation-progress",
    ),
    path("staff/stimuli/<int:pk>/", staff_views.stimulus_detail, name="stimulus-detail"),
    path("staff/stimuli/<int:pk>/raw-map.npy", staff_views.raw_map_file, name="stimulus-raw-map"),
    path("staff/images/<int:pk>/file", staff_views.image_file, name="image-file"),
]
