"""URL patterns; gathered by studies/urls.py under the `studies` namespace.

Staff only: live monitor (and its JSON), results report, plots and CSV exports of a study.
"""

from django.urls import path

from config.lazy_urls import LazyViews

views = LazyViews("studies.results.views")  # the analysis stack loads on a staff request, not at start

urlpatterns = [
    path("staff/studies/<int:study_id>/monitor/", views.study_monitor, name="study-monitor"),
    path("staff/studies/<int:study_id>/monitor/data/", views.study_monitor_data, name="study-monitor-data"),
    path("staff/studies/<int:study_id>/results/", views.study_results, name="study-results"),
    path("staff/studies/<int:study_id>/faithfulness/", views.study_faithfulness_run, name="study-faithfulness-run"),
    path("staff/studies/<int:study_id>/plots/<slug:name>.<str:fmt>", views.study_plot, name="study-plot"),
    path("staff/studies/<int:study_id>/export/responses.csv", views.export_responses, name="export-responses"),
    path("staff/studies/<int:study_id>/export/participants.csv", views.export_participants, name="export-participants"),
    path("staff/studies/<int:study_id>/export/stimuli.csv", views.export_stimuli, name="export-stimuli"),
    path(
        "staff/studies/<int:study_id>/export/prolific-bonuses.csv",
        views.export_prolific_bonuses,
        name="export-prolific-bonuses",
    ),
    path("staff/studies/<int:study_id>/prolific-submissions/", views.prolific_submissions, name="prolific-submissions"),
]
