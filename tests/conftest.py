import pytest
from django.db import connection

POSTGRES_ONLY_REASON = (
    "needs PostgreSQL (real row locks and concurrency): set DATABASE_URL, or run `make test`, which starts a "
    "throwaway PostgreSQL cluster when the server binaries are installed"
)


def pytest_collection_modifyitems(config, items):
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason=POSTGRES_ONLY_REASON)
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config):
    return f"database: {connection.vendor} ({connection.settings_dict.get('NAME')})"
