"""Settings as each environment loads them: `manage.py` in a fresh interpreter with its own environment."""

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SECRET_KEY = "pV7s9Kq2xL4mZ8rT1wN6yB3cF5hJ0dGaE2uI9oP4sA7vX1qW8eR3tY6zM5nB0kCj"  # 64 characters, test only
SECRET_KEY_MESSAGE = "DJANGO_SECRET_KEY must be set to a random string of at least 50 characters."


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def production(*args: str, **env: str) -> subprocess.CompletedProcess:
    return manage(*args, DJANGO_SETTINGS_MODULE="config.settings.production", **env)


def test_production_refuses_to_start_without_a_secret_key():
    result = production("check", "--deploy", DATABASE_URL="postgres://u@127.0.0.1:5432/x")

    assert result.returncode == 1
    assert f"ImproperlyConfigured: {SECRET_KEY_MESSAGE}" in result.stderr


def test_production_refuses_a_short_secret_key():
    result = production("check", "--deploy", DJANGO_SECRET_KEY="too-short", DATABASE_URL="postgres://u@127.0.0.1/x")

    assert result.returncode == 1
    assert f"ImproperlyConfigured: {SECRET_KEY_MESSAGE}" in result.stderr


def test_production_refuses_to_start_without_a_database_url():
    result = production("check", "--deploy", DJANGO_SECRET_KEY=SECRET_KEY)

    assert result.returncode == 1
    assert "ImproperlyConfigured: DATABASE_URL must point at PostgreSQL in production." in result.stderr


def test_production_settings_pass_the_deployment_checklist_with_no_warnings():
    assert len(SECRET_KEY) == 64
    result = production(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SECRET_KEY=SECRET_KEY,
        DATABASE_URL="postgres://u@127.0.0.1:5432/x",
        DJANGO_ALLOWED_HOSTS="portal.example",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == "System check identified no issues (0 silenced).\n"


def test_production_debug_cannot_be_switched_on_from_the_environment():
    result = production(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.DEBUG, settings.ALLOWED_HOSTS)",
        DJANGO_SECRET_KEY=SECRET_KEY,
        DATABASE_URL="postgres://u@127.0.0.1:5432/x",
        DJANGO_ALLOWED_HOSTS="portal.example",
        DJANGO_DEBUG="true",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == "False ['portal.example']\n"


def test_the_committed_migrations_match_the_models(tmp_path):
    # An empty database of its own: makemigrations also checks the history applied to the database it sees.
    result = manage(
        "makemigrations",
        "--check",
        "--dry-run",
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "No changes detected\n"


def test_a_retention_that_is_not_a_whole_number_of_days_stops_the_start_with_its_name():
    result = manage("check", META_WEBHOOK_INBOX_RETENTION_DAYS="30d", DJANGO_SETTINGS_MODULE="config.settings.test")

    assert result.returncode == 1
    message = "META_WEBHOOK_INBOX_RETENTION_DAYS must be a whole number of at least 0, got '30d'"
    assert f"ImproperlyConfigured: {message}" in result.stderr
