"""Serve generated stimuli without Django, with long-lived cache headers.

Stimulus files are content-addressed (their names carry the content key) and never change, so
they can be cached for a year. Only the stimuli folder is public: original photographs and
checkpoints stay behind staff-only views (a participant in a class-discrimination study must
never be able to open the unmasked photograph).

WhiteNoise indexes its folders once at start-up; stimuli are generated while the site runs, so
files under the prefix are looked up on their first request and remembered.
"""

from __future__ import annotations

from pathlib import Path

from whitenoise import WhiteNoise
from whitenoise.string_utils import decode_path_info

ONE_YEAR_S = 365 * 24 * 60 * 60
PUBLIC_MEDIA_SUBDIR = "stimuli"


def add_security_headers(headers, path: str, url: str) -> None:
    """The headers Django's middleware gives its own responses, for files served before it
    (stimuli here, static files in WhiteNoiseMiddleware: WHITENOISE_ADD_HEADERS_FUNCTION)."""
    from django.conf import settings

    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = settings.X_FRAME_OPTIONS
    headers["Referrer-Policy"] = settings.SECURE_REFERRER_POLICY
    if settings.SECURE_HSTS_SECONDS:
        # Files are indexed once, not per request: browsers ignore the header over plain http.
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        hsts += "; includeSubDomains" if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS else ""
        hsts += "; preload" if settings.SECURE_HSTS_PRELOAD else ""
        headers["Strict-Transport-Security"] = hsts


class StimulusFiles(WhiteNoise):
    def __init__(self, application, media_root: str | Path, media_url: str):
        super().__init__(
            application,
            autorefresh=True,
            max_age=ONE_YEAR_S,
            immutable_file_test=lambda p, u: True,
            add_headers_function=add_security_headers,
        )
        self.prefix = media_url.rstrip("/") + f"/{PUBLIC_MEDIA_SUBDIR}/"
        self.add_files(str(Path(media_root) / PUBLIC_MEDIA_SUBDIR), self.prefix)

    def __call__(self, environ, start_response):
        path = decode_path_info(environ.get("PATH_INFO", ""))
        if not path.startswith(self.prefix):
            return self.application(environ, start_response)
        static_file = self.files.get(path)
        if static_file is None:
            static_file = self.find_file(path)
            if static_file is None:
                return self.application(environ, start_response)
            self.files[path] = static_file
        return self.serve(static_file, environ, start_response)


def wrap(application):
    """Put the stimulus server in front of Django when media are on the local disk."""
    from django.conf import settings

    if not settings.SERVE_STIMULI_WITHOUT_DJANGO or not settings.MEDIA_URL.startswith("/"):
        return application
    return StimulusFiles(application, settings.MEDIA_ROOT, settings.MEDIA_URL)
