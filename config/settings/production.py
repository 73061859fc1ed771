"""Production: refuses to start without a secret key; passes `manage.py check --deploy`."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env, env_bool

SECRET_KEY = env("DJANGO_SECRET_KEY")
if not SECRET_KEY or len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set to a random string of at least 50 characters.")
if not env("DATABASE_URL"):
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL in production.")

DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = int(env("DJANGO_SECURE_HSTS_SECONDS", "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = [o for o in (env("DJANGO_CSRF_TRUSTED_ORIGINS", "") or "").split(",") if o]
EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")

# Structured logs: one JSON object per line on stderr, with the request id, hub id and invoice number of the request
# or task (ops/logs.py). Celery's workers log through this too instead of their own format.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "ops.logs.ContextFilter"}},
    "formatters": {"json": {"()": "ops.logs.JsonFormatter"}},
    "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["context"]}},
    "root": {"handlers": ["json"], "level": env("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own request and server loggers: to the JSON handler only (not also to its plain console one).
        "django": {"handlers": ["json"], "level": env("DJANGO_LOG_LEVEL", "INFO"), "propagate": False},
        "django.server": {"handlers": ["json"], "level": "INFO", "propagate": False},
    },
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# The load balancer probes /healthz over plain HTTP (HealthCheckMiddleware answers before the redirect anyway).
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
