"""Settings shared by every profile. Values come from atomic_ops.env, never from os.environ here.

With DATABASE_URL / REDIS_URL unset, importing the settings starts (or finds running) the
embedded PostgreSQL and Redis under var/ — the same code path as real servers.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url

from atomic_ops.env import PROJECT_ROOT, environment
from atomic_ops.services import ensure_services

ENV = environment()
BASE_DIR: Path = PROJECT_ROOT

if ENV.embedded_database or ENV.embedded_redis:
    _embedded = ensure_services(ENV.var_dir, database=ENV.embedded_database, redis=ENV.embedded_redis)
    DATABASE_URL = ENV.database_url or _embedded.database_url
    REDIS_URL = ENV.redis_url or _embedded.redis_url
else:
    DATABASE_URL = ENV.database_url
    REDIS_URL = ENV.redis_url

SECRET_KEY = ENV.secret_key or "dev-only-insecure-key-change-me-0123456789abcdefghijklmnopqrstuvwxyz"
PROFILE = "base"  # each profile module names itself: local, test, production
DEBUG = False
ALLOWED_HOSTS = list(ENV.allowed_hosts) or ["127.0.0.1", "localhost"]
CSRF_TRUSTED_ORIGINS = list(ENV.csrf_trusted_origins)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "axes",
    "trading",
    "dashboards",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "trading.middleware.RequestIdMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the 429 page
]

# Login: django-axes counts failures per username and address (an unknown username is locked
# out exactly like a real one: nothing tells them apart) and locks for AXES_COOLOFF_TIME.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
SESSION_COOKIE_AGE = 8 * 3600  # one shift
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_SAMESITE = "Strict"
CSRF_COOKIE_SAMESITE = "Strict"

ROOT_URLCONF = "atomic_ops.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "atomic_ops.asgi.application"

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
            ],
        },
    },
]

DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = ENV.var_dir / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing root
WHITENOISE_USE_FINDERS = True  # serve static/ straight from the source tree: no collectstatic step

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"


def _channel_layer_host(url: str) -> dict | str:
    return {"address": url} if url.startswith("unix://") else url


def _celery_broker(url: str) -> str:
    # Celery/kombu spell a unix socket "redis+socket:///path"
    return "redis+socket://" + url.removeprefix("unix://") if url.startswith("unix://") else url


CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [_channel_layer_host(REDIS_URL)], "capacity": 200, "expiry": 10},
    }
}

CELERY_BROKER_URL = _celery_broker(REDIS_URL)
CELERY_RESULT_BACKEND = _celery_broker(REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"

# Project paths the trading code needs (data is read-only; cache and outputs live under var/).
ATOMIC_OPS = {
    "VAR_DIR": ENV.var_dir,
    "DATA_DIR": ENV.data_dir,
    "CACHE_DIR": ENV.var_dir / "cache",
    "REDIS_URL": REDIS_URL,
    # the console's "state at seq" replay (trading/selectors/state_at.py): the most journal
    # records one request may replay, and how long it may take, before it is refused
    "STATE_AT_MAX_RECORDS": 1_000_000,
    "STATE_AT_TIME_BUDGET_S": 30.0,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": ENV.log_level},
    "loggers": {"django.db.backends": {"level": "INFO"}, "pgserver": {"level": "WARNING"}},
}
