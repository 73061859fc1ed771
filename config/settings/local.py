"""`make run`: the embedded default (SQLite + kombu filesystem transport), debug on."""

from .base import *  # noqa: F403
from .base import BASE_DIR, env

DEBUG = True
SECRET_KEY = env("DJANGO_SECRET_KEY", "local-development-key-not-for-production")  # noqa: S105
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Emails (invoices with their PDFs) are written to files to read, not printed into the worker's log.
EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = str(BASE_DIR / "var" / "mail")
