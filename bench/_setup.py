"""Shared set-up for the benchmarks: a dedicated PostgreSQL database, created fresh, migrated."""

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


def bench_django(db_name: str) -> str:
    """Point Django at a fresh database on the DATABASE_URL server (PostgreSQL), migrate it; return its name.

    The name is `db_name` followed by DATABASE_URL's own database name (hubportal_bench_api_hp_perf for
    DATABASE_URL=…/hp_perf): developers sharing the server each have their own, and never drop another's."""
    url = os.environ.get("DATABASE_URL")
    if not url or not url.startswith(("postgres://", "postgresql://")):
        sys.exit("The benchmarks run on PostgreSQL: set DATABASE_URL=postgres://… (or use `make bench`).")
    parts = urlsplit(url)
    own = parts.path.strip("/")
    if own and own != "postgres":
        db_name = f"{db_name}_{own}"
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{db_name}"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    sys.path.insert(0, str(ROOT))
    import psycopg

    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}"')
        conn.execute(f'CREATE DATABASE "{db_name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return db_name


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def admin_url() -> str:
    """The DATABASE_URL server's maintenance database (to drop a bench database)."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/postgres"))


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (Linux /proc), or None when it is not on this machine
    (or gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
