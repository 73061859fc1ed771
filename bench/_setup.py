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


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name (field 3 on is index 0 on), or None when the process is not here."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (Linux /proc), or None when it is not on this machine
    (or gone)."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(backend_pid: int) -> float | None:
    """CPU seconds the whole PostgreSQL server on this machine has used so far, given one of its backends' pids:
    the postmaster's own, its live children's (backends, WAL writer, checkpointer…) and those of the children it
    has reaped (cutime/cstime: a backend that disconnected during the measurement still counts). None when the
    server is not on this machine. Every database's backends count: a bench runs on a quiet server."""
    backend = _stat_fields(backend_pid)
    if backend is None:
        return None
    postmaster = int(backend[1])
    fields = _stat_fields(postmaster)
    if fields is None:
        return None
    ticks = sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    seconds = ticks / os.sysconf("SC_CLK_TCK")
    return seconds + sum(process_cpu_seconds(int(pid)) or 0.0 for pid in children)
