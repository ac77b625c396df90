import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from config.media import wrap  # noqa: E402

application = wrap(get_wsgi_application())

# Every web process (gunicorn imports this module in each worker) loads the URL configuration now,
# then moves what it has loaded out of the garbage collector's reach: the full collections that
# would otherwise walk those hundred thousand objects paused a request for tens of milliseconds.
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns  # noqa: B018  (imports the URL configuration)
gc.freeze()
