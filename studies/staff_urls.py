"""URL patterns; gathered by studies/urls.py under the `studies` namespace.

Staff only: generation progress (JSON) and stimulus provenance.
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
]
