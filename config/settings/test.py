"""pytest: PostgreSQL from DATABASE_URL when set (money tests need it), SQLite otherwise."""

from .base import *  # noqa: F403
from .base import STATIC_ROOT, env

SECRET_KEY = "test-key-not-for-production"  # noqa: S105
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CELERY_TASK_ALWAYS_EAGER = env("CELERY_TASK_ALWAYS_EAGER", "1") == "1"
CELERY_TASK_EAGER_PROPAGATES = True
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request when it is missing
# Each test process has its own cache (tests that are about Redis say so and use it explicitly).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# The tests' webhook receivers are plain-HTTP servers on 127.0.0.1.
OUTBOUND_WEBHOOKS_ALLOW_LOOPBACK_HTTP = True
