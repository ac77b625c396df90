"""All URLs of the app, gathered from one module per audience.

participant_urls: the study pages participants see (/s/<slug>/...).
staff_urls: generation progress and stimulus provenance for staff.
results_urls: live monitor, results, plots and exports for staff.
"""

from django.urls import path

from . import staff_urls, views
from .participants import urls as participant_urls
from .results import urls as results_urls

app_name = "studies"

urlpatterns = [
    path("", views.home, name="home"),
    *participant_urls.urlpatterns,
    *staff_urls.urlpatterns,
    *results_urls.urlpatterns,
]
