"""URLconf pieces whose modules are imported on first use, not when the URLconf is.

The staff results pages and the JSON API sit on the analysis stack (pandas, statsmodels,
matplotlib: hundreds of MB and about a second of start-up per process). Participant pages never
use it, so a web process that only serves participants should never import it; reversing a
participant URL does not touch these entries either (Django's reverse skips the patterns of a
namespaced include, and a lazy view is an ordinary callable).
"""

from __future__ import annotations

import functools
import threading
from importlib import import_module

from django.urls.resolvers import RoutePattern, URLResolver


class LazyURLConf:
    """Stands for an included URLconf: `load()` gives its patterns on first use."""

    def __init__(self, load):
        self._load = load
        self._lock = threading.Lock()
        self._patterns = None

    @property
    def loaded(self) -> bool:
        return self._patterns is not None

    @property
    def urlpatterns(self):
        if self._patterns is None:
            with self._lock:  # gthread workers: one thread builds them
                if self._patterns is None:
                    self._patterns = list(self._load())
        return self._patterns


class LazyURLResolver(URLResolver):
    """A namespaced include whose patterns load when a URL under it is resolved or one of its names
    reversed. Django's own resolver populates every included resolver on the first reverse() of any
    name, which would import the module on a participant's first page."""

    def _populate(self):
        if self.urlconf_module.loaded:
            super()._populate()


def lazy_include(route: str, load, app_name: str, namespace: str) -> LazyURLResolver:
    """`path(route, include(...))` for the patterns that `load()` returns, imported on first use."""
    return LazyURLResolver(
        RoutePattern(route, is_endpoint=False), LazyURLConf(load), app_name=app_name, namespace=namespace
    )


class LazyViews:
    """Stands for a views module in a URLconf: `LazyViews("studies.results.views").study_monitor` is a
    view that imports the module on its first request. CSRF protection always applies to such a view
    (the middleware reads `csrf_exempt` before the module is imported), so none may be exempt."""

    def __init__(self, module: str):
        self._module = module

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        module = self._module

        @functools.cache
        def target():
            view = getattr(import_module(module), name)
            if getattr(view, "csrf_exempt", False):
                raise TypeError(f"{module}.{name} is csrf_exempt: it cannot be imported lazily")
            return view

        def view(request, *args, **kwargs):
            return target()(request, *args, **kwargs)

        view.__name__ = view.__qualname__ = name
        view.__module__ = module
        view.lazy_target = target
        return view
