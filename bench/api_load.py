"""The messaging platform's API under load: the app under gunicorn on loopback, against PostgreSQL and Redis.

Measures, with a load generator on the same machine:
  1. GET /api/v1/hubs/{hub_id}/send-permission: requests per second, p50/p99 latency, over a mix of allowed and
     blocked hubs (wrk, Lua script for the key and the paths).
     Target (issue 14) >= 5,000 req/s with p99 < 5 ms; `--server granian` is the faster WSGI server.
  2. POST /api/v1/usage-events in batches of 1,000 from 2 concurrent senders: events per second (Python threads
     with keep-alive connections, bodies encoded beforehand; they only wait on the server). Target >= 10,000 ev/s.
  3. POST /webhooks/meta/: Meta's signed webhooks (one status each, as Meta mostly sends them, each a distinct
     wamid), every one sent once by wrk over 64 keep-alive connections (--meta-senders), drained by a real Celery
     worker (one process, solo pool; --meta-drainers N: a prefork pool of N) from the Redis broker: webhooks
     accepted per second (first to last stored, from the inbox's receive times), and statuses rated per second
     from wrk's start until the inbox is empty.
     Target (issue 12): at least the usage-events figure above.
Phases 2 and 3 print their CPU per event / per status: the server's processes, PostgreSQL (the whole server's
processes on this machine, backends that came and went included, less the bench's own polls), the senders (wrk,
or the bench's threads) and the drainers, with the total and the rate that total allows on this machine's cores.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/5 \
       .venv/bin/python bench/api_load.py [--workers 3] [--threads 4] [--duration 15] [--events 100000]
       [--meta-statuses 20000] [--skip send-permission] [--skip usage-events] [--skip meta-webhooks]
Without REDIS_URL a throwaway redis-server is started on a free port. The bench database, the cache keys it wrote
and gunicorn are removed at the end.
"""

import argparse
import contextlib
import datetime as dt
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._setup import ROOT, bench_django, process_cpu_seconds, server_cpu_seconds  # noqa: E402

DB_NAME = "hubportal_bench_api"
HUBS, NUMBERS_PER_HUB, BATCH, SENDERS = 200, 3, 1000, 2
CACHE_KEY_PATTERNS = (":1:send-permission:*", ":1:hub-pk:*", ":1:api-key:*", ":1:throttle:*")
WRK_SCRIPT = """
local paths = {%(paths)s}
local i = 0
wrk.headers["Authorization"] = "Bearer %(key)s"
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{process.args[0]} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.1)
    sys.exit(f"nothing listens on port {port} after {seconds} s")


@contextlib.contextmanager
def redis_url():
    """REDIS_URL as given, or a throwaway redis-server on a free port."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    binary = shutil.which("redis-server")
    if not binary:
        sys.exit("Set REDIS_URL (or install redis-server): the cache under test is Redis.")
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, server)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


def forget_cache_keys(url: str) -> int:
    """Delete the keys this bench's server wrote (by pattern, not FLUSHDB: the database may be shared)."""
    import redis

    client = redis.Redis.from_url(url)
    removed = 0
    for pattern in CACHE_KEY_PATTERNS:
        keys = list(client.scan_iter(match=pattern, count=1000))
        for start in range(0, len(keys), 1000):
            removed += client.delete(*keys[start : start + 1000])
    return removed


def build_world(now: dt.datetime) -> tuple[list[tuple[str, str]], list[str], list[str], str]:
    """200 hubs with 3 numbers each: every other hub funded (allowed), the rest below 0.00 (blocked)."""
    from djmoney.money import Money

    from api.keys import api_key_create
    from bench.usage_ingest import build_world as hubs_and_numbers
    from billing.ledger import ledger_post
    from billing.models import EntryKind
    from hub.models import Hub

    numbers = hubs_and_numbers()
    allowed, blocked = [], []
    for i, hub in enumerate(Hub.objects.select_related("credit_account").order_by("pk")):
        funded = i % 2 == 0
        amount, kind = (
            (Money("1000000.00", hub.currency), EntryKind.FUNDS_ADDED)
            if funded
            else (
                Money("-1.000000", hub.currency),
                EntryKind.USAGE,
            )
        )  # below 0.00 already, so the bench's debits queue no automatic top-up
        ledger_post(account=hub.credit_account, kind=kind, amount=amount, key=f"bench:{hub.pk}", occurred_at=now)
        (allowed if funded else blocked).append(hub.hub_id)
    _, key = api_key_create(name="Bench messaging platform")
    return numbers, allowed, blocked, key


def usage_bodies(numbers, total: int, now: dt.datetime) -> list[bytes]:
    """Batches of 1,000 events sent over the last week (the server takes "now" from the real clock)."""
    from bench.usage_ingest import events

    run = secrets.token_hex(4)
    start = now - dt.timedelta(days=7)
    batch = []
    bodies = []
    for i, event in enumerate(events(numbers, total)):
        event["message_id"] = f"wamid.api.{run}.{i:09d}"
        event["timestamp"] = (start + dt.timedelta(seconds=(i * 3) % (6 * 86400))).isoformat()
        batch.append(event)
        if len(batch) == BATCH:
            bodies.append(json.dumps({"events": batch}).encode())
            batch = []
    return bodies


def fast_path_application():
    """`gunicorn 'bench.api_load:fast_path_application()'`: the Django application behind api.platform's
    SendPermissionFastPath, i.e. what config/wsgi.py serves once it wraps its application with it."""
    from django.core.wsgi import get_wsgi_application

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
    application = get_wsgi_application()
    from api.platform import SendPermissionFastPath
    from billing.webhooks_meta import MetaWebhookFastPath

    return MetaWebhookFastPath(SendPermissionFastPath(application))


APPS = {
    "django": "config.wsgi:application",
    "fast-path": "bench.api_load:fast_path_application()",
    "bare-webhook": "bench.api_load:bare_webhook_application",
    "bare-webhook-asgi": "bench.api_load:bare_webhook_asgi",  # granian-asgi only
}


GRANIAN_APPS = {
    "django": ("config.wsgi:application", []),
    "fast-path": ("bench.api_load:fast_path_application", ["--factory"]),
    "bare-webhook": ("bench.api_load:bare_webhook_application", []),
}


def granian_command(*, port: int, workers: int, threads: int, app: str, quiet: bool = False) -> list[str]:
    target, extra = GRANIAN_APPS[app]
    if not quiet:
        print(
            f"granian {target} (WSGI): {workers} worker(s), single-threaded runtime, {threads} blocking thread(s) "
            "each, HTTP/1.1 keep-alive, settings config.settings.production (DEBUG off)"
        )
    return [
        str(ROOT / ".venv/bin/granian"), "--interface", "wsgi", target, *extra, "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--blocking-threads", str(threads), "--runtime-mode", "st",
        "--http", "1", "--backlog", "2048", "--log-level", "warning", "--no-ws",
    ]  # fmt: skip


@contextlib.contextmanager
def gunicorn(
    *, port: int, workers: int, threads: int, database_url: str, cache_url: str, app: str, server="gunicorn",
    quiet: bool = False,
):  # fmt: skip
    worker_class = "gthread" if threads > 1 else "sync"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_SECURE_SSL_REDIRECT": "false",  # plain HTTP on loopback (production has TLS in front)
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DATABASE_URL": database_url,
        "DATABASE_CONN_MAX_AGE": "60",
        "REDIS_URL": cache_url,
    }
    command = [
        str(ROOT / ".venv/bin/gunicorn"), APPS[app], "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers), "--worker-class", worker_class, "--threads", str(threads),
        "--backlog", "2048", "--keep-alive", "5", "--log-level", "warning", "--chdir", str(ROOT),
    ]  # fmt: skip
    if server == "granian":
        command = granian_command(port=port, workers=workers, threads=threads, app=app, quiet=quiet)
    elif server == "granian-asgi":
        target = "bench.api_load:bare_webhook_asgi" if app == "bare-webhook-asgi" else "config.asgi_meta:application"
        if not quiet:
            print(f"granian {target} (ASGI): {workers} worker(s), single-threaded runtime")
        command = [
            str(ROOT / ".venv/bin/granian"), "--interface", "asgi", target, "--host",
            "127.0.0.1", "--port", str(port), "--workers", str(workers), "--runtime-mode", "st", "--http", "1",
            "--backlog", "2048", "--log-level", "warning", "--no-ws",
        ]  # fmt: skip
    elif not quiet:
        print(
            f"gunicorn {APPS[app]}: {workers} {worker_class} worker(s) x {threads} thread(s), keep-alive 5 s, "
            f"settings config.settings.production (DEBUG off), CONN_MAX_AGE 60, cache Redis {mask(cache_url)}"
        )
    env["PYTHONPATH"] = str(ROOT)
    server = subprocess.Popen(command, env=env, cwd=ROOT)
    try:
        wait_for_port(port, server)
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)


def mask(url: str) -> str:
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


def get_json(port: int, path: str, key: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Authorization": f"Bearer {key}"})
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    return response.status, body


def wrk_run(*, port: int, script: str, duration: int, connections: int, threads: int, until=None) -> dict:
    """wrk's figures for `duration` seconds, or until `until()` is true (polled; then wrk is interrupted, and
    prints its figures for the time it ran: wrk's main thread sleeps the whole duration even when its threads
    stopped)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        command = [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{duration}s",
                "--latency",
                "--timeout",
                "5s",
                "-s",
                handle.name,
                f"http://127.0.0.1:{port}",
        ]  # fmt: skip
        if until is None:
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        else:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
            while process.poll() is None and not until():
                time.sleep(0.05)
            process.send_signal(signal.SIGINT)
            output = process.communicate(timeout=30)[0]
    finally:
        os.unlink(handle.name)
    figures = {"raw": output, "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}
    for percentile in ("50", "90", "99"):
        value, unit = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
        figures[f"p{percentile}"] = float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    figures["requests"] = int(re.search(r"(\d+) requests in", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    figures["errors"] = int(errors.group(1)) if errors else 0
    socket_errors = re.search(r"Socket errors: (.*)", output)
    figures["socket_errors"] = socket_errors.group(1) if socket_errors else "none"
    return figures


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (Linux /proc); a process gone counts nothing."""
    return sum(process_cpu_seconds(pid) or 0.0 for pid in pids)


def process_cpu(pids: list[int]) -> dict[int, float]:
    return {pid: cpu_seconds([pid]) for pid in pids}


def tree_cpu(process: subprocess.Popen) -> dict[int, float]:
    """`process_cpu` of a process and its children (a server's workers, a prefork pool)."""
    return process_cpu([process.pid, *pids_of(parent=process.pid)])


def cpu_since(before: dict[int, float]) -> float:
    """The CPU seconds the processes of a `process_cpu` reading have used since it."""
    return sum(cpu_seconds([pid]) - seconds for pid, seconds in before.items())


def pids_of(*, parent: int) -> list[int]:
    command = ["pgrep", "-P", str(parent)]
    return [int(pid) for pid in subprocess.run(command, capture_output=True, text=True, check=False).stdout.split()]


class PostgresCpu:
    """The PostgreSQL server's CPU over a measurement (bench/_setup.server_cpu_seconds: the backends that came and
    went, as a prefork pool's do, and the WAL writer's flushes included), less the bench's own backend (its polls);
    0 when the server is on another machine."""

    def __init__(self):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (self.own,) = cursor.fetchone()
        self.started = self._now()

    def _now(self) -> float:
        return (server_cpu_seconds(self.own) or 0.0) - (process_cpu_seconds(self.own) or 0.0)

    def seconds(self) -> float:
        return self._now() - self.started


def redis_cpu_seconds(url: str) -> float:
    import redis

    info = redis.Redis.from_url(url).info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


def children_cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def send_permission_load(*, port: int, key: str, allowed: list[str], blocked: list[str], args, server) -> None:
    for hub_id, expected in ((allowed[0], True), (blocked[0], False)):
        status, body = get_json(port, f"/api/v1/hubs/{hub_id}/send-permission", key)
        if status != 200 or body["allowed"] is not expected:
            sys.exit(f"unexpected answer for {hub_id}: {status} {body}")
    paths = [f"/api/v1/hubs/{hub_id}/send-permission" for pair in zip(allowed, blocked, strict=True) for hub_id in pair]
    script = WRK_SCRIPT % {"paths": ", ".join(f'"{p}"' for p in paths), "key": key}
    wrk_run(port=port, script=script, duration=3, connections=args.connections, threads=1)  # warm every worker
    workers = [int(pid) for pid in subprocess.run(
        ["pgrep", "-P", str(server.pid)], capture_output=True, text=True, check=False
    ).stdout.split()]  # fmt: skip
    before = (cpu_seconds(workers), children_cpu_seconds(), redis_cpu_seconds(args.cache_url), os.getloadavg()[0])
    result = wrk_run(port=port, script=script, duration=args.duration, connections=args.connections, threads=1)
    app_cpu, wrk_cpu, redis_cpu = (
        (cpu_seconds(workers) - before[0]) / result["requests"] * 1e6,
        (children_cpu_seconds() - before[1]) / result["requests"] * 1e6,
        (redis_cpu_seconds(args.cache_url) - before[2]) / result["requests"] * 1e6,
    )
    verdict = "OK" if result["rps"] >= 5000 and result["p99"] < 5 else "MISSED"
    print(
        f"send-permission ({len(paths)} hubs, half blocked; wrk 1 thread, {args.connections} connections, "
        f"{args.duration} s):\n"
        f"  {result['rps']:>9,.0f} req/s   p50 {result['p50']:.2f} ms   p90 {result['p90']:.2f} ms   "
        f"p99 {result['p99']:.2f} ms   ({result['requests']:,} requests, {result['errors']} non-2xx, "
        f"socket errors: {result['socket_errors']})   target >= 5,000 req/s, p99 < 5 ms: {verdict}\n"
        f"  CPU per request: server workers {app_cpu:.0f} us, wrk {wrk_cpu:.0f} us, redis-server {redis_cpu:.0f} us "
        f"(so 2 idle cores serve ~{2e6 / (app_cpu + wrk_cpu + redis_cpu):,.0f} req/s); load average "
        f"{before[3]:.1f} before the run, {os.getloadavg()[0]:.1f} after (other processes share these cores)"
    )


def cpu_split(micros: dict[str, float]) -> str:
    return ", ".join(f"{part} {value:.0f} us" for part, value in micros.items())


def post_batches(port: int, key: str, bodies: list[bytes], results: list) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    for body in bodies:
        started = time.perf_counter()
        conn.request("POST", "/api/v1/usage-events", body=body, headers=headers)
        response = conn.getresponse()
        payload = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {payload}")
        results.append((time.perf_counter() - started, payload))
    conn.close()


def send_concurrently(port: int, key: str, bodies: list[bytes]) -> tuple[float, list]:
    results: list = []
    senders = [
        threading.Thread(target=post_batches, args=(port, key, bodies[i::SENDERS], results)) for i in range(SENDERS)
    ]
    started = time.perf_counter()
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    return time.perf_counter() - started, results


def usage_events_load(*, port: int, key: str, numbers, args, now: dt.datetime, server) -> float:
    bodies = usage_bodies(numbers, args.events + BATCH, now)
    send_concurrently(port, key, bodies[:1])  # warm-up batch
    server_before, postgres, senders_before = tree_cpu(server), PostgresCpu(), time.process_time()
    elapsed, results = send_concurrently(port, key, bodies[1:])
    cpu = {
        "server": cpu_since(server_before),
        "postgres": postgres.seconds(),
        "senders": time.process_time() - senders_before,
    }
    args.usage_cpu = {part: seconds / args.events * 1e6 for part, seconds in cpu.items()}
    if len(results) != len(bodies) - 1:
        sys.exit("a sender failed; see above")
    accepted = sum(payload["accepted"] for _, payload in results)
    rejected = sum(payload["rejected"] for _, payload in results)
    latencies = sorted(seconds * 1000 for seconds, _ in results)
    rate = args.events / elapsed
    print(
        f"usage-events ({args.events:,} events in {len(results)} batches of {BATCH}, {SENDERS} concurrent senders):\n"
        f"  {rate:>9,.0f} events/s ({accepted:,} accepted, {rejected} rejected in {elapsed:.2f} s; per batch "
        f"p50 {statistics.median(latencies):.0f} ms, max {latencies[-1]:.0f} ms)   target >= 10,000 events/s: "
        f"{'OK' if rate >= 10_000 else 'MISSED'}\n"
        f"  CPU per event: {cpu_split(args.usage_cpu)}"
        f" = {sum(args.usage_cpu.values()):.0f} us; {os.cpu_count()} cores at most "
        f"{os.cpu_count() * 1e6 / sum(args.usage_cpu.values()):,.0f} events/s"
    )
    replay_elapsed, replayed = send_concurrently(port, key, bodies[1:11])
    print(
        f"  replay of 10 batches:   {10 * BATCH / replay_elapsed:>8,.0f} events/s checked, "
        f"{sum(p['accepted'] for _, p in replayed)} posted again, "
        f"{sum(p['duplicates'] for _, p in replayed):,} duplicates"
    )
    return rate


META_SECRET = "bench-app-secret"  # noqa: S105 -- the bench signs its own webhooks (bench/meta_webhooks.py too)
META_DRAIN_KEY = ":1:meta-webhooks:drain-queued"


META_VERIFY_TOKEN = "bench-verify-token"  # noqa: S105 -- wrk's requests after the last webhook ask the GET check
# Both Meta scripts: the signed bodies formatted into requests once, before the clock starts (`signed_requests()`).
META_WRK_REQUESTS = """
local bodies = {%(bodies)s}
local signatures = {%(signatures)s}
local requests = {}
local function signed_requests()
  for k = 1, #bodies do
    requests[k] = wrk.format("POST", "/webhooks/meta/",
      {["Content-Type"] = "application/json", ["X-Hub-Signature-256"] = signatures[k]}, bodies[k])
  end
  bodies, signatures = nil, nil
end
"""
META_WRK_SCRIPT = (
    META_WRK_REQUESTS
    + """
local sent, answered, tail, primed = 0, 0, nil, false
init = function(args)
  signed_requests()
  tail = wrk.format("GET", "/webhooks/meta/?hub.mode=subscribe&hub.verify_token=%(token)s&hub.challenge=1")
end
request = function()
  -- wrk calls request() once before it connects, to count pipelined requests, and drops the answer: that first
  -- call gets the GET (a run that sends it costs one echo), so every webhook goes out.
  if not primed then primed = true; return tail end
  sent = sent + 1
  if sent <= #requests then return requests[sent] end
  return tail
end
response = function(status, headers, body)
  if string.sub(body, 1, 1) == "{" then answered = answered + 1 end  -- a webhook's answer, not the GET's echo
  if answered >= #requests then wrk.thread:stop() end
end
"""
)


def meta_wrk_script(bodies: list[tuple[bytes, str]], template: str = META_WRK_SCRIPT) -> str:
    """wrk sends every signed webhook once, in order over its connections, then stops: Lua long strings hold the
    bodies as signed (each a distinct wamid), formatted into requests before the clock starts. With
    META_FLOOR_SCRIPT it cycles through them for as long as wrk runs (the floor)."""
    for body, _signature in bodies:
        if b"]==]" in body:
            raise ValueError("a body closes the Lua long string")
    return template % {
        "bodies": ",".join(f"[==[{body.decode()}]==]" for body, _signature in bodies),
        "signatures": ",".join(f'"{signature}"' for _body, signature in bodies),
        "token": META_VERIFY_TOKEN,
    }


META_FLOOR_SCRIPT = (
    META_WRK_REQUESTS
    + """
local i = 0
init = function(args)
  signed_requests()
end
request = function()
  i = i %% #requests + 1
  return requests[i]
end
"""
)
BARE_ANSWER = b'{"received":0}'


def _bare_signature_valid(body: bytes, header: str) -> bool:
    expected = "sha256=" + hmac.new(os.environ["META_APP_SECRET"].encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def bare_webhook_application(environ, start_response):
    """The Meta phase's HTTP floor (WSGI): the same server reading a webhook and checking its signature as the
    fast path does, answering at once without storing it. No Django, no database: what any endpoint pays per
    webhook before its durable write."""
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    valid = _bare_signature_valid(body, environ.get("HTTP_X_HUB_SIGNATURE_256", ""))
    start_response("200 OK" if valid else "401 Unauthorized",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(BARE_ANSWER)))])  # fmt: skip
    return [BARE_ANSWER]


async def bare_webhook_asgi(scope, receive, send):
    """The same floor for the ASGI instances (config.asgi_meta)."""
    if scope["type"] != "http":
        return
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    header = dict(scope["headers"]).get(b"x-hub-signature-256", b"").decode()
    valid = _bare_signature_valid(b"".join(chunks), header)
    await send({"type": "http.response.start", "status": 200 if valid else 401,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "http.response.body", "body": BARE_ANSWER})


def commit_latency(database_url: str, body: bytes, commits: int = 300) -> tuple[float, float]:
    """Median and p90 milliseconds of one durable commit on the bench's database: an autocommitted INSERT of one
    webhook body into a scratch table (synchronous_commit as the server has it), as the group commit pays once
    per group."""
    import psycopg

    times = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_commit_probe (id bigserial PRIMARY KEY, body bytea NOT NULL)")
        try:
            with conn.cursor(binary=True) as cursor:
                for _ in range(commits):
                    started = time.perf_counter()
                    cursor.execute("INSERT INTO bench_commit_probe (body) VALUES (%s)", [body])
                    times.append((time.perf_counter() - started) * 1000)
        finally:
            conn.execute("DROP TABLE bench_commit_probe")
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)]


def meta_floors(*, args, bodies: list[tuple[bytes, str]], server_kind: str) -> None:
    """What bounds the Meta phase, measured in the same run: the server's floor (bare_webhook_application on the
    same server, workers, threads and wrk connections, the same signed bodies) and a durable commit."""
    port = free_port()
    app = "bare-webhook-asgi" if server_kind == "granian-asgi" else "bare-webhook"
    with gunicorn(port=port, workers=args.workers, threads=args.threads, database_url=os.environ["DATABASE_URL"],
                  cache_url=args.cache_url, app=app, server=server_kind, quiet=True) as bare:  # fmt: skip
        bare_before = tree_cpu(bare)
        floor = wrk_run(port=port, script=meta_wrk_script(bodies[:2000], META_FLOOR_SCRIPT), duration=5,
                        connections=args.meta_senders, threads=1)  # fmt: skip
        bare_cpu = cpu_since(bare_before) / floor["requests"] * 1e6
    median, p90 = commit_latency(os.environ["DATABASE_URL"], bodies[0][0])
    refused = f", {floor['errors']} non-2xx" if floor["errors"] else ""
    print(
        f"  floors (same run): the same server reading and checking the same signed webhooks, storing nothing: "
        f"{floor['rps']:,.0f} req/s (p50 {floor['p50']:.2f} ms, p99 {floor['p99']:.2f} ms"
        f"{refused}; server CPU {bare_cpu:.0f} us per webhook); a durable commit on this database: "
        f"median {median:.2f} ms, p90 {p90:.2f} ms (the group commit pays one per group, one writer per server "
        f"process)"
    )


@contextlib.contextmanager
def celery_worker(*, database_url: str, cache_url: str, concurrency: int = 1):
    """A Celery worker on the bench's database and broker: solo pool (one process, one task at a time), or a
    prefork pool of `concurrency` processes (concurrent drains share the inbox: SKIP LOCKED)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DATABASE_URL": database_url,
        "REDIS_URL": cache_url,
        "PYTHONPATH": str(ROOT),
    }
    pool = ["--pool", "solo"] if concurrency == 1 else ["--pool", "prefork", "--concurrency", str(concurrency)]
    worker = subprocess.Popen(
        [str(ROOT / ".venv/bin/celery"), "-A", "config.celery_app", "worker", *pool, "--loglevel",
         "warning", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield worker
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def stored_since(first_id: int) -> int:
    from billing.models import MetaWebhookInbox

    return MetaWebhookInbox.objects.filter(id__gte=first_id).count()


def meta_webhooks_load(*, port: int, args, usage_rate: float | None, server) -> None:
    """Signed webhooks POSTed at the real server by wrk, drained by a real worker: accepted/s and statuses rated/s."""
    import redis
    from django.db import connection
    from django.db.models import Count, Max, Min

    from bench.meta_webhooks import webhook_bodies
    from billing.models import MessageUsage, MetaWebhookInbox
    from hub.models import PhoneNumber

    for number in PhoneNumber.objects.all():
        number.meta_phone_number_id = number.e164.lstrip("+")
        number.save(update_fields=["meta_phone_number_id"])
    numbers = list(PhoneNumber.objects.values_list("waba__meta_waba_id", "meta_phone_number_id"))
    # Meta's timestamps are Unix seconds in November 2026; the server's clock is the real one.
    bodies = list(webhook_bodies(numbers, args.meta_statuses, args.meta_per_webhook, offset=50_000_000))
    script = meta_wrk_script(bodies)
    if "meta-floor" not in args.skip:
        kind = args.server if args.meta_server == "same" else args.meta_server
        meta_floors(args=args, bodies=bodies, server_kind=kind)
    before = MessageUsage.objects.count()
    first_id = (MetaWebhookInbox.objects.aggregate(last=Max("id"))["last"] or 0) + 1
    connection.close()
    with celery_worker(database_url=os.environ["DATABASE_URL"], cache_url=args.cache_url,
                       concurrency=args.meta_drainers) as drainer:  # fmt: skip
        time.sleep(3)  # the worker connects to the broker
        deadline = time.monotonic() + 60
        while args.meta_drainers > 1 and len(pids_of(parent=drainer.pid)) < args.meta_drainers:
            if time.monotonic() > deadline:  # a prefork pool forks its children after start-up: their CPU counts
                sys.exit(f"the worker's {args.meta_drainers} pool processes did not start within a minute")
            time.sleep(0.2)
        cpu_before = {"server": tree_cpu(server), "drain": tree_cpu(drainer)}
        postgres = PostgresCpu()
        wrk_before = children_cpu_seconds()
        started = time.perf_counter()
        result = wrk_run(port=port, script=script, duration=300, connections=args.meta_senders, threads=1,
                         until=lambda: stored_since(first_id) >= len(bodies))  # fmt: skip
        posted = time.perf_counter() - started
        wrk_cpu = children_cpu_seconds() - wrk_before
        deadline = time.monotonic() + 600
        while MetaWebhookInbox.objects.filter(processed_at__isnull=True).exists():
            if time.monotonic() > deadline:
                sys.exit("the worker did not drain the inbox within 10 minutes")
            time.sleep(0.05)
        rated_in = time.perf_counter() - started
        cpu = {group: cpu_since(before) for group, before in cpu_before.items()}
        cpu["postgres"] = postgres.seconds()
        cpu["wrk"] = wrk_cpu
    stored = MetaWebhookInbox.objects.filter(id__gte=first_id).aggregate(
        first=Min("received_at"),
        last=Max("received_at"),
        count=Count("id"),
        commits=Count("received_at", distinct=True),  # a group commit stores its webhooks with one receive time
    )
    if stored["count"] != len(bodies) or result["errors"]:
        sys.exit(f"{stored['count']:,} webhooks stored of {len(bodies):,} sent; {result['errors']} non-2xx answers")
    accepted_in = (stored["last"] - stored["first"]).total_seconds()
    rated = MessageUsage.objects.count() - before
    rate = args.meta_statuses / rated_in
    accepted = len(bodies) / accepted_in
    accepted_statuses = args.meta_statuses / accepted_in

    def comparison(statuses_per_second: float) -> str:
        if not usage_rate:
            return ""
        verdict = "OK" if statuses_per_second >= usage_rate else "MISSED"
        return f" ({verdict} against usage-events {usage_rate:,.0f} events/s)"

    per_status = {group: seconds / args.meta_statuses * 1e6 for group, seconds in cpu.items()}
    total = sum(per_status.values())
    cores = os.cpu_count()
    bound = f"{cpu_split(per_status)} = {total:.0f} us; {cores} cores at most {cores * 1e6 / total:,.0f} statuses/s"
    if getattr(args, "usage_cpu", None):
        bound += f" (usage-events: {sum(args.usage_cpu.values()):.0f} us per event)"
    print(
        f"meta webhooks ({len(bodies):,} signed webhooks of {args.meta_per_webhook} status(es), each sent once by wrk "
        f"over {args.meta_senders} keep-alive connections; {args.meta_drainers} Celery worker process(es) draining):\n"
        f"  {accepted:>9,.0f} webhooks accepted/s, first to last stored ({accepted_in:.2f} s; wrk "
        f"{result['rps']:,.0f} req/s, p50 {result['p50']:.2f} ms, p99 {result['p99']:.2f} ms; {stored['commits']:,} "
        f"INSERT commits, {len(bodies) / stored['commits']:.1f} webhooks each)"
        f"{comparison(accepted_statuses)}\n"
        f"  {rate:>9,.0f} statuses rated/s end to end ({rated:,} usage rows; inbox empty {rated_in - posted:.2f} s "
        f"after wrk stopped){comparison(rate)}\n"
        f"  CPU per status: {bound}"
        f" (the server's part is until wrk stopped, the others' until the inbox was empty; postgres: the whole "
        "server's processes, less the bench's own polls)"
    )
    redis.Redis.from_url(args.cache_url).delete(META_DRAIN_KEY)


def drop_database(database_url: str, db_name: str) -> None:
    from urllib.parse import urlsplit, urlunsplit

    import psycopg
    from django.db import connections

    connections.close_all()
    admin = urlunsplit(urlsplit(database_url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (one per core)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (> 1: gthread, else sync)")
    parser.add_argument("--duration", type=int, default=15, help="seconds of send-permission load")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (the platform's keep-alive pool)")
    parser.add_argument("--events", type=int, default=100_000, help="usage events to post")
    parser.add_argument("--meta-statuses", type=int, default=20_000, help="Meta webhooks to post (1 status each)")
    parser.add_argument("--meta-per-webhook", type=int, default=1, help="statuses per Meta webhook")
    parser.add_argument(
        "--meta-senders", type=int, default=64,
        help="wrk connections posting webhooks (Meta delivers in parallel; concurrent webhooks share a commit)",
    )  # fmt: skip
    parser.add_argument("--meta-drainers", type=int, default=1, help="Celery worker processes draining the inbox")
    parser.add_argument(
        "--skip", choices=["send-permission", "usage-events", "meta-webhooks", "meta-floor"], action="append",
        default=[], help="meta-floor: the Meta phase without its floors (bare server, durable commit)",
    )  # fmt: skip
    parser.add_argument(
        "--app", choices=list(APPS), default="django", help="fast-path: behind api.platform.SendPermissionFastPath"
    )
    parser.add_argument(
        "--server", choices=["gunicorn", "granian", "granian-asgi"], default="gunicorn",
        help="the server: granian-asgi is config.asgi_meta (Meta webhooks' instances)",
    )  # fmt: skip
    parser.add_argument(
        "--meta-server", choices=["same", "granian", "granian-asgi"], default="same",
        help="the server for the Meta webhooks phase: the one above, or its own (granian-asgi: config.asgi_meta)",
    )  # fmt: skip
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("The load generator is wrk: apt-get install -y wrk")
    os.environ.setdefault("META_APP_SECRET", META_SECRET)  # the server (and the worker) check the bench's signatures
    os.environ.setdefault("META_VERIFY_TOKEN", META_VERIFY_TOKEN)
    db_name = bench_django(DB_NAME)
    database_url = os.environ["DATABASE_URL"]
    from config.celery_app import app

    # Tasks queued while the world is built go to an in-memory broker, not to a Redis someone else may read.
    app.conf.update(task_always_eager=False, broker_url="memory://localhost/")
    from core import clock

    now = clock.now()
    numbers, allowed, blocked, key = build_world(now)
    print(f"api load on PostgreSQL ({db_name}): {HUBS} hubs ({len(allowed)} allowed, {len(blocked)} blocked), "
          f"{len(numbers)} numbers, one service key; {os.cpu_count()} CPU core(s)")  # fmt: skip
    port = free_port()
    with redis_url() as cache_url:
        forget_cache_keys(cache_url)
        try:
            args.cache_url = cache_url
            usage_rate = None
            same_server = "meta-webhooks" not in args.skip and args.meta_server == "same"
            if {"send-permission", "usage-events"} - set(args.skip) or same_server:
                with gunicorn(
                    port=port,
                    workers=args.workers,
                    threads=args.threads,
                    database_url=database_url,
                    cache_url=cache_url,
                    app=args.app,
                    server=args.server,
                ) as server:
                    if "send-permission" not in args.skip:
                        send_permission_load(
                            port=port, key=key, allowed=allowed, blocked=blocked, args=args, server=server
                        )
                    if "usage-events" not in args.skip:
                        usage_rate = usage_events_load(
                            port=port, key=key, numbers=numbers, args=args, now=now, server=server
                        )
                    if same_server:
                        meta_webhooks_load(port=port, args=args, usage_rate=usage_rate, server=server)
            if "meta-webhooks" not in args.skip and args.meta_server != "same":
                # Meta's own instances (README: config/asgi_meta.py), after the other server stopped
                meta_port = free_port()
                with gunicorn(port=meta_port, workers=args.workers, threads=args.threads, database_url=database_url,
                              cache_url=cache_url, app=args.app, server=args.meta_server) as meta_server:  # fmt: skip
                    meta_webhooks_load(port=meta_port, args=args, usage_rate=usage_rate, server=meta_server)
        finally:
            forget_cache_keys(cache_url)
            drop_database(database_url, db_name)
    print("cleaned up: gunicorn stopped, bench database dropped, its cache keys deleted")


if __name__ == "__main__":
    main()
