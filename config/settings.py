"""Settings, read from the environment (and an optional `.env` file) with django-environ.

With nothing set the site runs on SQLite under `var/` and Celery tasks execute in-process,
so the demo needs no server. With DATABASE_URL and CELERY_BROKER_URL it uses Postgres and Redis.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from config.media import add_security_headers

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)

# A development key is only acceptable on a developer's machine.
_DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"
# Keys that were ever shipped in this repository (examples, old test settings): public, so refused.
_PUBLISHED_SECRET_KEYS = {
    _DEV_SECRET_KEY,
    "replace-with-the-output-of-python-c-import-secrets-print-secrets-token_urlsafe-50",
    "change-me-to-a-long-random-string",
    "test-secret-key-not-for-production",
    "collectstatic-only",
}
MIN_SECRET_KEY_LENGTH = 50
_MAKE_A_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY (required when DEBUG is off), "
            "or set DEBUG=1 for a development machine."
        )
    SECRET_KEY = _DEV_SECRET_KEY
elif not DEBUG and SECRET_KEY in _PUBLISHED_SECRET_KEYS:
    raise ImproperlyConfigured(f"SECRET_KEY is a published placeholder. Make a key of your own with: {_MAKE_A_KEY}")
elif not DEBUG and len(SECRET_KEY) < MIN_SECRET_KEY_LENGTH:
    raise ImproperlyConfigured(
        f"SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} characters. Make a longer one with: {_MAKE_A_KEY}"
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "ninja",  # the API's documentation page, served from its own static files
    "studies",
    "axes",
    "django_prometheus",
]

MIDDLEWARE = [
    # First and last: request latency histograms for /metrics (django-prometheus).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # MTurk's frame: cookies that must cross sites are kept per top-level site (CHIPS).
    "config.partitioned_cookies.PartitionedCookiesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "studies.unavailable.DatabaseUnavailableMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "studies.i18n.language_choice",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Behind PgBouncer in transaction mode a server-side cursor (QuerySet.iterator) would outlive the
# transaction that held its server connection: set DISABLE_SERVER_SIDE_CURSORS=1 there (README).
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool("DISABLE_SERVER_SIDE_CURSORS", default=False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Waiting for the write lock beats "database is locked" when the demo has concurrent writers.
    # and IMMEDIATE transactions take it at the start, so concurrent writers queue instead of deadlocking.
    DATABASES["default"].setdefault("OPTIONS", {}).update(timeout=20, transaction_mode="IMMEDIATE")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Failed admin logins are counted per username (behind a proxy every request has the proxy's
# address); past the limit even the right password is refused until the cool-off ends or an
# administrator lifts the lockout (admin: Access attempts, or `manage.py axes_reset_username`).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("ADMIN_LOCKOUT_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
AXES_VERBOSE = False
# axes warns that without the address, rotating user agents or cookies escapes the count: not so
# when the count is per username, as here.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# The languages a study may offer its participants (README, "Languages"): each has a catalogue under
# locale/. A right-to-left language (Django's LANGUAGES_BIDI: ar, he, fa, ...) needs only its catalogue.
PARTICIPANT_LANGUAGES = {"en": "English", "ko": "한국어", "de": "Deutsch"}
LANGUAGES = list(PARTICIPANT_LANGUAGES.items())
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]

MEDIA_URL = env.str("MEDIA_URL", default="/media/")
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
# Stimuli are served by config/media.py (WhiteNoise) in front of Django, with one-year cache headers.
SERVE_STIMULI_WITHOUT_DJANGO = env.bool("SERVE_STIMULI_WITHOUT_DJANGO", default=True)

STORAGES = {
    "default": {"BACKEND": env.str("DEFAULT_FILE_STORAGE", default="django.core.files.storage.FileSystemStorage")},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_STORAGE",
            default=(
                "django.contrib.staticfiles.storage.StaticFilesStorage"
                if DEBUG
                else "whitenoise.storage.CompressedManifestStaticFilesStorage"
            ),
        )
    },
}

# MEDIA_STORAGE=s3: media in S3-compatible object storage (see config/storage.py and README), with
# django-storages' standard names. Stimuli are public and immutable, everything else presigned.
MEDIA_STORAGE = env.str("MEDIA_STORAGE", default="local")
if MEDIA_STORAGE not in ("local", "s3"):
    raise ImproperlyConfigured(f"MEDIA_STORAGE must be local or s3, not {MEDIA_STORAGE!r}")
if MEDIA_STORAGE == "s3":
    from config.s3 import s3_settings, s3_storage_backend

    globals().update(s3_settings(env))
    STORAGES["default"] = s3_storage_backend()

# Workers copy photographs and checkpoints out of the storage into this cache, keyed by sha256
# (studies/stimuli/media_cache.py); least recently used files go first past the size bound.
MEDIA_CACHE_DIR = env.path("MEDIA_CACHE_DIR", default=str(VAR_DIR / "media-cache"))
MEDIA_CACHE_MAX_MB = env.int("MEDIA_CACHE_MAX_MB", default=4096)

# Uploaded zips of images can be large; Django streams them to disk past this size.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# Where `manage.py demo` keeps the networks it trains (reused by later runs).
DEMO_MODELS_DIR = env.path("DEMO_MODELS_DIR", default=str(VAR_DIR / "demo_models"))

# "auto": cuda when available, else cpu; resolved by the worker when it first loads a model,
# so that web processes never import torch just to read their settings.
TORCH_DEVICE = env.str("TORCH_DEVICE", default="auto")

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_RESULT_BACKEND = env.str(
    "CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else ""
)
if not CELERY_BROKER_URL:
    # No broker: run tasks in-process, and let their errors reach the caller.
    # kombu warns "No hostname was supplied" on every connection to a broker URL without a host.
    CELERY_BROKER_URL = "memory://localhost/"
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_TASK_EAGER_PROPAGATES = True
if not CELERY_RESULT_BACKEND:
    CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "celery"
# Everything that runs a network goes to a GPU queue: `gpu`, or the one a study or model pins
# (studies/stimuli/queues.py). A worker listens on CELERY_WORKER_QUEUES unless its command line gives -Q.
CELERY_TASK_ROUTES = ("studies.stimuli.queues.route_task",)
CELERY_WORKER_QUEUES = env.list("CELERY_WORKER_QUEUES", default=["gpu", "celery"])
CELERY_TASK_QUEUES = [Queue(name) for name in CELERY_WORKER_QUEUES]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis hands a dead worker's unacknowledged task to another worker after the visibility timeout
# (kombu's default is an hour). Chunks take seconds; keep this above the longest chunk, or a chunk
# runs twice (harmlessly: generation is idempotent).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=900),
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
}
CELERY_RESULT_EXPIRES = 3600
# A generation job with no progress for this long and nothing queued is planned again (studies/stimuli/stalled.py):
# on a progress poll, and every five minutes where `celery beat` runs.
STALLED_JOB_TIMEOUT_S = env.int("STALLED_JOB_TIMEOUT_S", default=900)
CELERY_BEAT_SCHEDULE = {
    "replan-stalled-generation-jobs": {"task": "studies.tasks.replan_stalled_jobs", "schedule": 300.0},
}
CELERY_TIMEZONE = "UTC"

# --- State shared by every web node ---------------------------------------------------------
# Web nodes keep nothing in process memory or on local disk, so a load balancer may send each
# request anywhere: sessions live in the database, the cache in Redis (CACHE_URL, by default the
# broker's Redis). Without Redis (the demo) nothing is cached.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
CACHE_URL = env.str("CACHE_URL", default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "")
if CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": "visexp-cache",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}

# --- Security -----------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_HTTPS_PROXY", default=False) else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_COOKIE_HTTPONLY = True  # pages send the token from the form, never read it from the cookie
# An MTurk external question runs in MTurk's frame, where a cookie is sent only with SameSite=None (and
# Secure): a site recruiting on MTurk sets CSRF_COOKIE_SAMESITE=None (participant cookies follow the study).
CSRF_COOKIE_SAMESITE = env.str("CSRF_COOKIE_SAMESITE", default="Lax")
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the container's health check speaks plain http
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
WHITENOISE_ADD_HEADERS_FUNCTION = add_security_headers  # static files leave before X-Frame-Options is set

# --- Logging: everything to stdout, one line per record -------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "plain"}},
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Metrics -------------------------------------------------------------------------------
# /metrics answers staff, or a scraper sending `Authorization: Bearer <METRICS_TOKEN>`.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- Personal data ------------------------------------------------------------------------
# Store Prolific/MTurk ids as a keyed hash (see studies/participants/privacy.py). Keep the key stable:
# a new key makes returning participants unrecognisable.
HASH_EXTERNAL_IDS = env.bool("HASH_EXTERNAL_IDS", default=True)
EXTERNAL_ID_HASH_KEY = env.str("EXTERNAL_ID_HASH_KEY", default=SECRET_KEY)
# Fernet keys (comma-separated, newest first) that encrypt the ids of studies that keep them readable
# (Study.external_id_protection = "encrypt"); older keys still decrypt. Make one with
# `python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`.
EXTERNAL_ID_ENCRYPTION_KEYS = env.list("EXTERNAL_ID_ENCRYPTION_KEYS", default=[])
# Where an MTurk external question posts the finished assignment (Study.mturk_environment).
MTURK_EXTERNAL_SUBMIT_URLS = {
    "sandbox": env.str("MTURK_SANDBOX_SUBMIT_URL", default="https://workersandbox.mturk.com/mturk/externalSubmit"),
    "production": env.str("MTURK_PRODUCTION_SUBMIT_URL", default="https://www.mturk.com/mturk/externalSubmit"),
}
