"""URL patterns; gathered by studies/urls.py under the `studies` namespace."""

urlpatterns = []
