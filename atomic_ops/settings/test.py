"""Test profile: real PostgreSQL and Redis (embedded or from DATABASE_URL / REDIS_URL)."""

from atomic_ops.settings.base import *  # noqa: F403

PROFILE = "test"
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; tests only
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# The per-test flush truncates every table; the audit trail refuses TRUNCATE unless told so
# (migration 0004). Only the test profile says so.
DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c atomic_ops.allow_audit_truncate=on"  # noqa: F405
# No persistent connections: the live server's request threads would otherwise keep theirs
# open past the end of the session, and the test database could not be dropped.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
