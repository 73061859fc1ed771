"""The send-permission check under several WSGI servers and settings, on the same data, one after the other.

Builds bench/api_load.py's world once (200 hubs, half blocked, one service key; PostgreSQL and Redis), then for each
configuration starts the server on loopback, asks every hub once (the view caches the answers), warms for 3 s and
runs wrk (1 thread, 8 keep-alive connections) twice, printing req/s, p50/p90/p99, the server's CPU per request and
the load average before each run (the machine may be shared: compare within one run of this script).
Target (issue 14): >= 5,000 req/s with p99 < 5 ms.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/5 \\
       .venv/bin/python bench/send_permission_servers.py [--seconds 10] [CONFIG ...]
CONFIG names come from SERVERS below (default: all). "production" is the Dockerfile's command and environment.
"""

import argparse
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bench.api_load as load  # noqa: E402
from bench._setup import ROOT, bench_django  # noqa: E402

DB_NAME = "hubportal_bench_servers"
GRANIAN = [str(ROOT / ".venv/bin/granian"), "config.wsgi:application", "--log-level", "warning"]
GUNICORN = [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi:application", "--backlog", "2048", "--keep-alive", "5",
            "--log-level", "warning"]  # fmt: skip


def dockerfile_granian_env() -> dict[str, str]:
    """The GRANIAN_* variables the Dockerfile sets (so "production" measures what the image runs)."""
    text = (ROOT / "Dockerfile").read_text()
    return dict(re.findall(r"^(?:ENV)?\s+(GRANIAN_[A-Z_]+)=([^\s\\]+)", text, re.M))


def granian(workers: int, threads: int, mode: str = "st") -> tuple[list[str], dict]:
    env = {**dockerfile_granian_env(), "GRANIAN_WORKERS": str(workers), "GRANIAN_BLOCKING_THREADS": str(threads),
           "GRANIAN_RUNTIME_MODE": mode}  # fmt: skip
    return GRANIAN, env


SERVERS = {
    "production": lambda: (GRANIAN, dockerfile_granian_env()),
    "granian-2w-st-1t": lambda: granian(2, 1),
    "granian-3w-st-1t": lambda: granian(3, 1),
    "granian-4w-st-1t": lambda: granian(4, 1),
    "granian-2w-mt-1t": lambda: granian(2, 1, "mt"),
    "granian-2w-st-2t": lambda: granian(2, 2),
    "granian-3w-st-2t": lambda: granian(3, 2),
    "gunicorn-4w-sync": lambda: (GUNICORN + ["--workers", "4", "--worker-class", "sync"], {}),
    "gunicorn-2w-gthread-4t": lambda: (
        GUNICORN + ["--workers", "2", "--worker-class", "gthread", "--threads", "4"], {}
    ),
}


def serve(name: str, port: int, base_env: dict) -> subprocess.Popen:
    command, extra = SERVERS[name]()
    env = {**base_env, **extra}
    if command[0].endswith("granian"):
        env.update(GRANIAN_HOST="127.0.0.1", GRANIAN_PORT=str(port))
    else:
        command = [*command, "--bind", f"127.0.0.1:{port}"]
    return subprocess.Popen(command, env=env, cwd=ROOT)


def measure(name: str, *, base_env: dict, paths: list[str], key: str, script: str, seconds: int) -> None:
    port = load.free_port()
    server = serve(name, port, base_env)
    try:
        load.wait_for_port(port, server)
        for path in paths:  # the view caches each answer
            status, _body = load.get_json(port, path, key)
            if status != 200:
                sys.exit(f"{name}: {path} answered {status}")
        load.wrk_run(port=port, script=script, duration=3, connections=8, threads=1)
        pids = [server.pid, *map(int, subprocess.run(
            ["pgrep", "-P", str(server.pid)], capture_output=True, text=True, check=False).stdout.split())]  # fmt: skip
        for run in (1, 2):
            before, load_average = load.cpu_seconds(pids), os.getloadavg()[0]
            result = load.wrk_run(port=port, script=script, duration=seconds, connections=8, threads=1)
            cpu = (load.cpu_seconds(pids) - before) / result["requests"] * 1e6
            verdict = "OK" if result["rps"] >= 5000 and result["p99"] < 5 and not result["errors"] else "MISSED"
            print(f"{name:24} run {run}: {result['rps']:>7,.0f} req/s  p50 {result['p50']:.2f}  p90 "
                  f"{result['p90']:.2f}  p99 {result['p99']:.2f} ms  server CPU {cpu:.0f} µs/request  "
                  f"non-2xx {result['errors']}  load {load_average:.1f}  {verdict}", flush=True)  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="*", help=f"any of: {', '.join(SERVERS)} (default: all)")
    parser.add_argument("--seconds", type=int, default=10, help="seconds of each wrk run")
    args = parser.parse_args()
    unknown = [name for name in args.configs if name not in SERVERS]
    if unknown:
        parser.error(f"unknown configuration(s) {', '.join(unknown)}; choose from {', '.join(SERVERS)}")
    db_name = bench_django(DB_NAME)
    database_url = os.environ["DATABASE_URL"]
    if not os.environ.get("REDIS_URL"):
        sys.exit("Set REDIS_URL: the cache under test is Redis.")
    from config.celery_app import app
    from core import clock

    app.conf.update(task_always_eager=False, broker_url="memory://localhost/")
    _numbers, allowed, blocked, key = load.build_world(clock.now())
    cache_url = os.environ["REDIS_URL"]
    load.forget_cache_keys(cache_url)
    time.sleep(11)  # the world's postings left "forgotten" tombstones (10 s): let them expire, so answers get cached
    paths = [f"/api/v1/hubs/{hub_id}/send-permission" for pair in zip(allowed, blocked, strict=True) for hub_id in pair]
    script = load.WRK_SCRIPT % {"paths": ", ".join(f'"{p}"' for p in paths), "key": key}
    base_env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "DJANGO_LOG_LEVEL": "WARNING", "DATABASE_URL": database_url,
        "DATABASE_CONN_MAX_AGE": "60", "REDIS_URL": cache_url, "PYTHONPATH": str(ROOT),
    }  # fmt: skip
    print(f"send-permission check, {len(paths)} hubs (half blocked), wrk 1 thread 8 connections {args.seconds} s x 2; "
          f"{os.cpu_count()} CPU core(s)")  # fmt: skip
    try:
        for name in args.configs or list(SERVERS):
            measure(name, base_env=base_env, paths=paths, key=key, script=script, seconds=args.seconds)
    finally:
        load.forget_cache_keys(cache_url)
        load.drop_database(database_url, db_name)


if __name__ == "__main__":
    main()
