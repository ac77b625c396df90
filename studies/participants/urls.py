"""URL patterns; gathered by studies/urls.py under the `studies` namespace.

The participant flow, all under /s/<slug>/ (the signed participant cookie is scoped to that path).
"""

from django.urls import path

from . import views as views

urlpatterns = [
    path("s/<slug:slug>/", views.start, name="participant-start"),
    path("s/<slug:slug>/instructions/", views.instructions, name="participant-instructions"),
    path("s/<slug:slug>/trial/", views.trial, name="participant-trial"),
    path("s/<slug:slug>/answer/", views.answer, name="participant-answer"),
    path("s/<slug:slug>/questionnaire/", views.questionnaire, name="participant-questionnaire"),
    path("s/<slug:slug>/done/", views.done, name="participant-done"),
    path("s/<slug:slug>/leave/", views.leave, name="participant-leave"),
    path("s/<slug:slug>/withdraw/", views.withdraw, name="participant-withdraw"),
]
