"""The messaging platform's endpoints (service key only): usage events in, send permission out.

Send permission is asked thousands of times a second, so its path is lean: the service key, the hub's primary key
and the answer all come from the cache (no database query once warm), and the view skips throttling and content
negotiation work it does not need. Every change of a hub's restrictions invalidates its answer on commit
(billing.send_permission), and revoking a key invalidates its cached lookup on commit (api.keys.api_key_revoke).
"""

import contextlib
import functools
import json
import re
import time

import redis
from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.http.request import split_domain_port, validate_host
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import get_authorization_header
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from api.authentication import ApiKeyAuthentication, ApiKeyUser, key_used
from api.errors import error_response
from api.keys import KEY_CACHE, KEY_SECONDS, REVOKED, api_key_find, key_digest
from api.models import ApiKey, ApiKeyKind
from api.parsers import ApiJSONParser
from api.permissions import ServiceKey
from api.platform_serializers import (
    PlatformErrorSerializer,
    SendPermissionFeedSerializer,
    SendPermissionSerializer,
    UsageEventBatchSerializer,
    UsageEventsEnvelopeSerializer,
    UsageEventsResultSerializer,
)
from billing.send_permission import CACHE_KEY as ANSWER_KEY
from billing.send_permission import MISSING, hub_pk_cached, hub_pk_known, send_permission_cached
from billing.send_permission_stream import PAGE_MAX, SendPermissionStreamError, send_permission_changes
from billing.usage.ingest import usage_record_batch
from ops import metrics
from ops.metrics import usage_events_count

HUB_ID_SHAPE = re.compile(r"[A-Za-z0-9-]{1,16}")
PLATFORM_TAG = "Messaging platform"


def _mget_command(keys: list[str]) -> bytes:
    parts = [b"*%d\r\n$4\r\nMGET\r\n" % (len(keys) + 1)]
    for key in keys:
        raw = key.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(parts)


def cache_get_many_raw(keys: list[str]) -> list[bytes | None] | None:
    """The stored bytes (None for a miss) of these cache keys, in one MGET; None when the cache is not Redis.

    Sent on one connection of the cache's pool kept for the thread (Django's `caches` are per thread), as one packed
    command read back by hiredis: Django's RedisCache builds a new redis-py client (and its table of response
    callbacks) for every operation and takes a connection from the pool each time, and even a kept redis-py client
    packs and parses through several layers, which together cost more CPU than the round trip itself (measured on
    this 2-core box: ~245 µs of CPU per MGET through the cache, ~50 µs through a kept client, ~20 µs like this).
    The connection authenticates, selects the database and reconnects as redis-py's own (it is one)."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    connection = getattr(backend, "_platform_connection", None)
    if connection is None:
        pool = backend._cache._get_connection_pool(write=False)
        connection = backend._platform_connection = pool.get_connection()
    command = _mget_command([backend.make_key(key) for key in keys])
    try:
        connection.send_packed_command([command], check_health=False)
        values = connection.read_response()
    except BaseException:
        connection.disconnect()  # never read a later reply as this one's: the next command connects again
        raise
    if not isinstance(values, list) or len(values) != len(keys):
        connection.disconnect()
        raise redis.ResponseError(f"MGET of {len(keys)} keys answered {type(values).__name__}")
    return values


def cache_get_many(keys: list[str]) -> list:
    """The cached values (None for a miss) of these keys, in one round trip (cache_get_many_raw with Redis)."""
    raw = cache_get_many_raw(keys)
    if raw is None:
        found = caches["default"].get_many(keys)
        return [found.get(key) for key in keys]
    loads = caches["default"]._cache._serializer.loads
    return [None if value is None else loads(value) for value in raw]


def service_key_find_cached(plaintext: str, *, key_hash: str | None = None, cached: object = MISSING) -> ApiKey | None:
    """The active key with this text: a service key from the cache (no query), any other from the database.
    `cached` is what the cache holds for the key, when the caller has already fetched it (with other keys)."""
    key_hash = key_hash or key_digest(plaintext)
    cache_key = KEY_CACHE.format(key_hash=key_hash)
    if cached is MISSING:
        cached = cache.get(cache_key)
    if cached == REVOKED:
        return None
    if cached is not None:
        return _service_key(cached)
    key = api_key_find(plaintext)
    if key is not None:
        key_used(key)  # once per cache lifetime: the platform's key is used thousands of times a second
        if key.kind == ApiKeyKind.SERVICE:
            cache.add(cache_key, key.pk, KEY_SECONDS)  # never over a revocation's tombstone
    return key


def bearer_key(request) -> str | None:
    """The key of `Authorization: Bearer <key>`; None without a bearer header; AuthenticationFailed if malformed."""
    header = get_authorization_header(request).split()
    if not header or header[0].lower() != b"bearer":
        return None
    if len(header) != 2:
        raise exceptions.AuthenticationFailed(_("Send the key as 'Authorization: Bearer <key>'."))
    try:
        return header[1].decode()
    except UnicodeError as error:
        raise exceptions.AuthenticationFailed(_("The API key contains invalid characters.")) from error


@functools.lru_cache(maxsize=64)
def _service_key(pk: int) -> ApiKey:
    """The request's `auth` for a cached service key: its identity only (whether it is still active is what the
    cache lookup just answered), built once per process."""
    return ApiKey(pk=pk, kind=ApiKeyKind.SERVICE)


class JsonOnly(BaseContentNegotiation):
    """The platform's endpoints speak JSON only: no Accept header parsing on the hot path."""

    def select_parser(self, request, parsers):
        # A body sent as text/plain, or with no Content-Type, is not read as JSON: 415, as the other endpoints do.
        media_type = request.content_type.split(";", 1)[0].strip().lower()
        return parsers[0] if media_type == "application/json" else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class CachedServiceKeyAuthentication(ApiKeyAuthentication):
    """`Authorization: Bearer <key>` as everywhere in the API, with the service key's lookup cached. A view may
    have fetched the key's cache entry already (`request.prefetched_key`: key hash and value)."""

    def authenticate(self, request):
        plaintext = bearer_key(request)
        if plaintext is None:
            return None
        prefetched = getattr(request, "prefetched_key", None)
        if prefetched is not None and prefetched[0] == plaintext:
            key = service_key_find_cached(plaintext, key_hash=prefetched[1], cached=prefetched[2])
        else:
            key = service_key_find_cached(plaintext)
        if key is None:
            raise exceptions.AuthenticationFailed(_("Unknown or revoked API key."))
        return ApiKeyUser(key), key


class CachedServiceKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = CachedServiceKeyAuthentication
    name = "ServiceKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": _("The messaging platform's service key.")}


class PlatformView(APIView):
    authentication_classes = [CachedServiceKeyAuthentication]
    permission_classes = [ServiceKey]
    renderer_classes = [JSONRenderer]
    parser_classes = [ApiJSONParser]
    content_negotiation_class = JsonOnly
    # The platform is one trusted caller asking thousands of times a second: no throttle counter per request.
    throttle_classes: list = []


ERRORS = {
    400: OpenApiResponse(PlatformErrorSerializer, description="Malformed: a field, or a query parameter with a NUL."),
    401: OpenApiResponse(PlatformErrorSerializer, description="No key, or an unknown or revoked one."),
    403: OpenApiResponse(PlatformErrorSerializer, description="Not the messaging platform's service key."),
}
BODY_ERRORS = {
    413: OpenApiResponse(PlatformErrorSerializer, description="The body is larger than 2.5 MB."),
    415: OpenApiResponse(PlatformErrorSerializer, description="The body is not sent as application/json."),
}


class UsageEventsView(PlatformView):
    @extend_schema(
        operation_id="usage_events_create",
        tags=[PLATFORM_TAG],
        summary="Report a batch of message status events",
        description=(
            "Up to 1,000 events, in the format of `manage.py import_usage`. Valid events are rated and debited from "
            "their hub's credit balance; events already recorded (by message id) are counted as duplicates and "
            "skipped, so a retried batch posts nothing twice; invalid ones are reported by index. A batch with no "
            "valid event is refused with 400."
        ),
        request=UsageEventBatchSerializer,
        responses={
            200: UsageEventsResultSerializer,
            **ERRORS,
            400: OpenApiResponse(PlatformErrorSerializer, description="Malformed, too large or all events invalid."),
            **BODY_ERRORS,
        },
    )
    def post(self, request):
        envelope = UsageEventsEnvelopeSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        result = usage_record_batch(events=envelope.validated_data["events"])
        usage_events_count(accepted=result.accepted, duplicates=result.duplicates, rejected=len(result.rejected))
        rejections = [{"index": r.index, "reason": r.reason} for r in result.rejected]
        if not result.accepted and not result.duplicates:
            return error_response(
                code="invalid",
                message=_("No event in the batch is valid."),
                http_status=status.HTTP_400_BAD_REQUEST,
                fields={"events": {str(r["index"]): [r["reason"]] for r in rejections}},
            )
        return Response(
            {
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "rejected": len(rejections),
                "rejections": rejections,
            }
        )


class SendPermissionView(PlatformView):
    def initial(self, request, *args, **kwargs):
        """The hot path: the key's lookup and the hub's answer come from the cache in one round trip (get_many),
        before authentication, which then only checks what was fetched. The hub's primary key is in memory."""
        with contextlib.suppress(exceptions.AuthenticationFailed):  # authentication says so, below
            plaintext = bearer_key(request)
            hub_pk = hub_pk_known(hub_id=kwargs["hub_id"])
            if plaintext is not None and hub_pk is not None:
                key_hash = key_digest(plaintext)
                wanted = [KEY_CACHE.format(key_hash=key_hash), ANSWER_KEY.format(hub_pk=hub_pk)]
                key_entry, answer = cache_get_many(wanted)
                request.prefetched_key = (plaintext, key_hash, key_entry)
                request.prefetched_answer = (hub_pk, answer)
        super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="hub_send_permission",
        tags=[PLATFORM_TAG],
        summary="May this hub send outbound messages?",
        description=(
            "`allowed` is false while the hub is blocked (credit balance at 0.00 or below, an unpaid license "
            "invoice), with the reasons. Always current: every payment or block invalidates the answer on commit."
        ),
        responses={200: SendPermissionSerializer, 404: OpenApiResponse(PlatformErrorSerializer), **ERRORS},
    )
    def get(self, request, hub_id: str):
        hub_pk = hub_pk_cached(hub_id=hub_id) if HUB_ID_SHAPE.fullmatch(hub_id) else None
        if hub_pk is None:
            return error_response(
                code="not_found", message=_("No hub with this id."), http_status=status.HTTP_404_NOT_FOUND
            )
        prefetched = getattr(request, "prefetched_answer", None)
        if prefetched is not None and prefetched[0] == hub_pk:
            permission = send_permission_cached(hub_pk=hub_pk, cached=prefetched[1])
        else:
            permission = send_permission_cached(hub_pk=hub_pk)
        if permission.allowed:
            return Response({"allowed": True})
        return Response({"allowed": False, "reasons": permission.reasons})


class SendPermissionFeedQuery(serializers.Serializer):
    """The feed's query, as the schema states it (the view checks the same bounds)."""

    since = serializers.IntegerField(required=False, min_value=0, help_text="The `seq` of your last answer.")
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=PAGE_MAX,
        help_text=f"At most this many changes (1–{PAGE_MAX}, default {PAGE_MAX}).",
    )  # fmt: skip


class SendPermissionFeedView(PlatformView):
    @extend_schema(
        operation_id="send_permissions_feed",
        tags=[PLATFORM_TAG],
        summary="Every hub's send permission: a snapshot, then the changes since a sequence number",
        description=(
            "Keep your own copy instead of asking per message. Without `since`: the snapshot (every hub blocked "
            "now; any other hub may send) and the sequence number to follow from. With `since`: the changes after "
            "it, in commit order per hub, each a hub's whole answer (apply the latest per hub). A `since` older than "
            "the history kept gets the snapshot again (`snapshot` true). The same entries are on the Redis Stream "
            "`send-permissions:stream` (entry id `<seq>-0`, fields hub_id, allowed 1/0, reasons JSON)."
        ),
        parameters=[SendPermissionFeedQuery],
        responses={200: SendPermissionFeedSerializer, 400: OpenApiResponse(PlatformErrorSerializer), **ERRORS},
    )
    def get(self, request):
        limit = request.query_params.get("limit", str(PAGE_MAX))
        if not limit.isdigit() or not 1 <= int(limit) <= PAGE_MAX:
            return error_response(
                code="invalid",
                message=_("limit must be a whole number from 1 to %(max)s.") % {"max": PAGE_MAX},
                http_status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            feed = send_permission_changes(since=request.query_params.get("since"), limit=int(limit))
        except SendPermissionStreamError:
            return error_response(
                code="invalid",
                message=_("since must be a sequence number from an earlier answer."),
                http_status=status.HTTP_400_BAD_REQUEST,
            )
        return Response({"seq": feed.seq, "snapshot": feed.snapshot, "more": feed.more, "entries": feed.entries})


usage_events = UsageEventsView.as_view()
send_permissions_feed = SendPermissionFeedView.as_view()
send_permission = SendPermissionView.as_view()


SEND_PERMISSION_PATH = re.compile(r"/api/v1/hubs/([A-Za-z0-9-]{1,16})/send-permission")
FAST_PATH_HEADERS = [
    ("Content-Type", "application/json"),
    ("Allow", "GET, HEAD, OPTIONS"),
    ("X-Frame-Options", "DENY"),
    ("Vary", "Accept-Language, Cookie"),
    ("Content-Language", "en"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
]


class SendPermissionFastPath:
    """WSGI middleware around the Django application (config/wsgi.py): answers a send-permission GET whose service
    key, hub and answer are all in the cache, with the bytes the view would send, without Django's middleware,
    URL resolution and DRF, which cost most of the time of such a request. Everything else (another path, no key,
    an unknown or revoked key, an answer not cached or just forgotten) goes to Django unchanged, so every rule and
    error stays the view's; this path only repeats answers the view has already cached."""

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "GET" and not environ.get("QUERY_STRING"):
            started = time.monotonic()
            match = SEND_PERMISSION_PATH.fullmatch(environ.get("PATH_INFO", ""))
            body = self.cached_body(environ, match[1]) if match else None
            if body is not None:
                start_response("200 OK", [*FAST_PATH_HEADERS, ("Content-Length", str(len(body)))])
                metrics.fast_path_answered(method="GET", started=started)  # as ops' middleware counts Django's
                return [body]
        return self.application(environ, start_response)

    @staticmethod
    def cached_body(environ, hub_id: str) -> bytes | None:
        scheme, _, plaintext = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        hub_pk = hub_pk_known(hub_id=hub_id)
        if scheme.lower() != "bearer" or not plaintext or " " in plaintext or hub_pk is None:
            return None
        if not _host_allowed(environ.get("HTTP_HOST", "")):
            return None
        wanted = [KEY_CACHE.format(key_hash=_digest(plaintext)), ANSWER_KEY.format(hub_pk=hub_pk)]
        try:
            raw = cache_get_many_raw(wanted)
        except redis.RedisError:
            return None  # Django answers (or explains) it
        if raw is None:  # not Redis (a developer's file cache): decoded values
            key_entry, reasons = cache_get_many(wanted)
            ok = isinstance(key_entry, int) and isinstance(reasons, list)
            return _answer_body(reasons) if ok else None
        key_entry, answer = raw
        # A cached service key is its primary key, stored as digits; a revocation's tombstone is a pickled string.
        if key_entry is None or not key_entry.isdigit() or answer is None:
            return None
        body = _BODIES.get(answer)
        if body is None:
            reasons = caches["default"]._cache._serializer.loads(answer)
            if not isinstance(reasons, list):  # forgotten: a change is in flight
                return None
            body = _answer_body(reasons)
            if len(_BODIES) >= BODIES_KEPT:
                _BODIES.clear()
            _BODIES[answer] = body
        return body


# The fast path's memories, per process. Each maps an input to what it always gives: the same cached bytes always
# decode to the same answer, a key's text always has the same digest, a Host header is allowed or not for good (the
# settings do not change while the process runs). Bounded, so that no caller can grow them.
BODIES_KEPT = 10_000
_BODIES: dict[bytes, bytes] = {}  # cached answer (as stored) -> response body
_DIGESTS: dict[str, str] = {}  # the platform's key(s) -> SHA-256
_HOSTS: dict[str, bool] = {}  # Host header -> allowed


def _answer_body(reasons: list) -> bytes:
    answer = {"allowed": True} if not reasons else {"allowed": False, "reasons": reasons}
    return json.dumps(answer, separators=(",", ":"), ensure_ascii=False).encode()  # as DRF's JSONRenderer


def _digest(plaintext: str) -> str:
    digest = _DIGESTS.get(plaintext)
    if digest is None:
        digest = key_digest(plaintext)
        if len(_DIGESTS) < 16:
            _DIGESTS[plaintext] = digest
    return digest


def _host_allowed(host: str) -> bool:
    allowed = _HOSTS.get(host)
    if allowed is None:
        domain, _port = split_domain_port(host)
        allowed = bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)
        if len(_HOSTS) < 64:
            _HOSTS[host] = allowed
    return allowed
