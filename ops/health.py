"""`/healthz` for the load balancer: the database, the cache and the Celery broker, each asked with a short
timeout. 200 with {"status": "ok"} when all answer; 503 naming what failed (the check and the error's kind, never a
URL, host or password). Served by the first middleware, before host validation, HTTPS redirect, sessions and
sign-in, so the balancer's probe (by IP, over plain HTTP) is answered and costs no session row."""

import time
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.http import JsonResponse

PATH = "/healthz"
TIMEOUT_SECONDS = 2


def database_check() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def cache_check() -> None:
    key, token = "healthz:probe", uuid.uuid4().hex
    cache.set(key, token, timeout=30)
    if cache.get(key) != token:
        raise RuntimeError("the value written was not read back")


def broker_check() -> None:
    from kombu import Connection

    options = dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
    options.setdefault("socket_connect_timeout", TIMEOUT_SECONDS)
    options.setdefault("socket_timeout", TIMEOUT_SECONDS)
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=TIMEOUT_SECONDS, transport_options=options) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=TIMEOUT_SECONDS)
        conn.default_channel  # noqa: B018 -- opening a channel proves the broker answers


CHECKS = {"database": database_check, "cache": cache_check, "broker": broker_check}


def health() -> tuple[bool, dict]:
    results, healthy = {}, True
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            check()
        except Exception as error:  # noqa: BLE001 -- each failure is reported, by kind only
            healthy = False
            results[name] = {"ok": False, "error": type(error).__name__}
        else:
            results[name] = {"ok": True}
        results[name]["ms"] = round((time.monotonic() - started) * 1000, 1)
    return healthy, results


def healthz_view(request) -> JsonResponse:
    healthy, checks = health()
    failed = [name for name, result in checks.items() if not result["ok"]]
    body = {"status": "ok" if healthy else "fail", "checks": checks}
    if failed:
        body["failed"] = failed
    response = JsonResponse(body, status=200 if healthy else 503)
    response["Cache-Control"] = "no-store"
    return response


class HealthCheckMiddleware:
    """First in MIDDLEWARE: answers GET/HEAD /healthz itself."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == PATH and request.method in ("GET", "HEAD"):
            return healthz_view(request)
        return self.get_response(request)
