"""Signed webhooks out: the one delivery service for every event we push over HTTP (partners' webhooks today; the
platform's send-permission push names its endpoint in settings.OUTBOUND_WEBHOOKS and calls the same functions).

An event is written as a WebhookDelivery row in the transaction that caused it (`webhook_event_publish`), so it
exists exactly when its cause committed, and its delivery is queued once that transaction commits. Each attempt
POSTs the stored body unchanged with

    Hub-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the endpoint's secret>

so a receiver can check both who sent it and that it is fresh (reject a t more than 5 minutes old: a replayed
request). A 2xx answer delivers it; anything else (or no answer) is tried again with growing pauses for 24 hours
(the beat sweep queues what is due), then it is given up. Every attempt's status code or error is kept.

A platform endpoint (no partner: settings.OUTBOUND_WEBHOOKS) is delivered *in order*: a delivery is attempted only
once every earlier one to the same endpoint is delivered or given up, and finishing one queues the next. Its events
are states in commit order (the send permission's sequence numbers), and a later state must never overtake an
earlier one that is still being retried. A partner's endpoints get their events independently, as before.
"""

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import uuid
from collections.abc import Iterable
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from billing.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from billing.queue import enqueue_on_commit
from core import clock

logger = logging.getLogger(__name__)

GIVE_UP_AFTER = dt.timedelta(hours=24)
# Pause after the n-th failed attempt (the last one repeats until 24 hours have passed since the event).
BACKOFF = [dt.timedelta(minutes=m) for m in (1, 5, 15, 60, 180, 360)]
LEASE = dt.timedelta(minutes=2)  # an attempt in progress holds the row this long (a crashed worker's is retried)
TIMEOUT_SECONDS = 10
SIGNATURE_HEADER = "Hub-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300
USER_AGENT = "HubPortal-Webhooks/1"
MAX_ENDPOINTS_PER_PARTNER = 5


class WebhookUrlError(ValueError):
    """The URL cannot receive webhooks; the message says why."""


# Endpoints --------------------------------------------------------------------------------------------------------


def _loopback_http_allowed() -> bool:
    return getattr(settings, "OUTBOUND_WEBHOOKS_ALLOW_LOOPBACK_HTTP", False)


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(info[4][0]) for info in socket.getaddrinfo(host, None)]
    except (socket.gaierror, UnicodeError, ValueError):
        return []


def endpoint_url_check(url: str) -> str:
    """HTTPS to a public address only (no webhook may reach our own network); plain http:// to the loopback only
    where settings.OUTBOUND_WEBHOOKS_ALLOW_LOOPBACK_HTTP allows it (tests, a developer's machine)."""
    url = url.strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
    except Exception as error:
        raise WebhookUrlError("Enter a valid URL, such as https://example.com/webhooks/hub.") from error
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https":
        if _loopback_http_allowed() and _is_loopback(host):
            return url
        raise WebhookUrlError("The URL must start with https://: events are only sent encrypted.")
    addresses = _addresses(host)
    if not addresses:
        raise WebhookUrlError(f"The host {host} cannot be found.")
    if all(address.is_loopback for address in addresses) and _loopback_http_allowed():
        return url
    if any(not address.is_global for address in addresses):
        raise WebhookUrlError(f"The host {host} is not a public address; webhooks are sent over the internet only.")
    return url


def _is_loopback(host: str) -> bool:
    addresses = _addresses(host)
    return bool(addresses) and all(address.is_loopback for address in addresses)


def _new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def webhook_endpoint_create(*, partner, url: str, created_by_id: int | None = None) -> WebhookEndpoint:
    """Register a partner's endpoint. Its secret is on the returned object: show it once, it is not shown again."""
    url = endpoint_url_check(url)
    with transaction.atomic():
        existing = WebhookEndpoint.objects.select_for_update().filter(partner=partner, active=True)
        if len(existing) >= MAX_ENDPOINTS_PER_PARTNER:
            raise WebhookUrlError(f"At most {MAX_ENDPOINTS_PER_PARTNER} endpoints can be registered.")
        if any(endpoint.url == url for endpoint in existing):
            raise WebhookUrlError("This URL is already registered.")
        return WebhookEndpoint.objects.create(
            partner=partner, url=url, secret=_new_secret(), created_at=clock.now(), created_by_id=created_by_id
        )


def webhook_endpoint_remove(*, endpoint: WebhookEndpoint) -> None:
    """Stop sending to the endpoint; its delivery log is kept, pending deliveries are given up."""
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False)
        WebhookDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.FAILED, next_attempt_at=None, last_error="Endpoint removed"
        )


def platform_endpoint(*, name: str) -> WebhookEndpoint:
    """The endpoint settings.OUTBOUND_WEBHOOKS[name] = {"url": …, "secret": …} describes, kept in step with it (for
    the platform's pushes: they publish to it with `webhook_event_publish` like any partner endpoint)."""
    config = settings.OUTBOUND_WEBHOOKS[name]
    url = endpoint_url_check(config["url"])
    endpoint, _created = WebhookEndpoint.objects.update_or_create(
        name=name, partner=None,
        defaults={"url": url, "secret": config["secret"], "active": True},
        create_defaults={"url": url, "secret": config["secret"], "active": True, "created_at": clock.now()},
    )  # fmt: skip
    return endpoint


# Publishing -------------------------------------------------------------------------------------------------------


def event_body(*, event_id: str, event_type: str, payload: dict, created_at: dt.datetime) -> str:
    envelope = {
        "id": event_id,
        "type": event_type,
        "created_at": created_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "data": payload,
    }
    return json.dumps(envelope, sort_keys=True, separators=(",", ":"), default=str)


def webhook_event_publish(*, endpoint: WebhookEndpoint, event_type: str, payload: dict) -> WebhookDelivery:
    """Record one event for one endpoint in the caller's transaction; its delivery starts after commit."""
    return webhook_events_publish(endpoints=[endpoint], event_type=event_type, payload=payload)[0]


def webhook_events_publish(
    *, endpoints: Iterable[WebhookEndpoint], event_type: str, payload: dict
) -> list[WebhookDelivery]:
    return _publish([(endpoint, payload) for endpoint in endpoints], event_type=event_type)


def webhook_event_series_publish(
    *, endpoint: WebhookEndpoint, event_type: str, payloads: list[dict]
) -> list[WebhookDelivery]:
    """Several events for one endpoint in the caller's transaction, in this order (a platform endpoint receives
    them in it)."""
    return _publish([(endpoint, payload) for payload in payloads], event_type=event_type)


def _publish(events: list[tuple[WebhookEndpoint, dict]], *, event_type: str) -> list[WebhookDelivery]:
    now = clock.now()
    deliveries = []
    for endpoint, payload in events:
        event_id = f"evt_{uuid.uuid4().hex}"
        body = event_body(event_id=event_id, event_type=event_type, payload=payload, created_at=now)
        deliveries.append(WebhookDelivery(
            endpoint=endpoint, event_id=event_id, event_type=event_type, body=body, created_at=now,
            next_attempt_at=now,
        ))  # fmt: skip
    if deliveries:
        WebhookDelivery.objects.bulk_create(deliveries)  # ids in list order: the order of an ordered endpoint
        queued: set[int] = set()
        for delivery in deliveries:
            if delivery.endpoint.partner_id is None:  # ordered: the first one starts the chain
                if delivery.endpoint.pk in queued:
                    continue
                queued.add(delivery.endpoint.pk)
            enqueue_on_commit("billing.webhook_deliver", delivery.pk)
    return deliveries


# Signing ----------------------------------------------------------------------------------------------------------


def signature_header(*, secret: str, body: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def signature_verify(*, secret: str, body: str, header: str, now: float | None = None) -> bool:
    """What a receiver does (the README shows the same in a few lines): the HMAC matches and t is fresh."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
        return False
    expected = signature_header(secret=secret, body=body, timestamp=timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


# Delivering -------------------------------------------------------------------------------------------------------


def _waiting_in_line() -> Exists:
    """An earlier delivery to the same ordered (platform) endpoint is still pending: this one waits its turn."""
    return Exists(
        WebhookDelivery.objects.filter(
            endpoint_id=OuterRef("endpoint_id"), endpoint__partner__isnull=True, status=DeliveryStatus.PENDING,
            pk__lt=OuterRef("pk"),
        )
    )  # fmt: skip


def _claim(delivery_id: int, now: dt.datetime) -> bool:
    """Take the delivery for one attempt; a second worker (the sweep racing the first queueing) gets False, and so
    does a delivery to an ordered endpoint whose turn has not come."""
    return bool(
        WebhookDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING)
        .filter(Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True))
        .filter(~_waiting_in_line())
        .update(next_attempt_at=now + LEASE)
    )


def _queue_next_in_line(delivery: WebhookDelivery) -> None:
    """After an ordered endpoint's delivery is delivered or given up: start the next one at once."""
    pending = WebhookDelivery.objects.filter(endpoint_id=delivery.endpoint_id, status=DeliveryStatus.PENDING)
    following = pending.filter(pk__gt=delivery.pk).order_by("pk").values_list("pk", flat=True).first()
    if following is not None:
        enqueue_on_commit("billing.webhook_deliver", following)


def _post(delivery: WebhookDelivery) -> tuple[int | None, str]:
    """One POST; (status code, error). Redirects are not followed: the registered URL is the one we sign for."""
    endpoint = delivery.endpoint
    try:
        endpoint_url_check(endpoint.url)  # again now: the name may point elsewhere since it was registered
    except WebhookUrlError as refused:
        return None, str(refused)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Hub-Event": delivery.event_type,
        "Hub-Delivery": delivery.event_id,
        SIGNATURE_HEADER: signature_header(secret=endpoint.secret, body=delivery.body, timestamp=int(time.time())),
    }
    try:
        response = requests.post(
            endpoint.url, data=delivery.body.encode(), headers=headers, timeout=TIMEOUT_SECONDS, allow_redirects=False
        )
    except requests.RequestException as error:
        return None, f"{type(error).__name__}: {error}"[:300]
    return response.status_code, "" if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"


def next_attempt_after(*, attempts: int, created_at: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    """When to try again after `attempts` failures; None once 24 hours since the event would have passed."""
    pause = BACKOFF[min(attempts, len(BACKOFF)) - 1]
    at = now + pause
    return at if at <= created_at + GIVE_UP_AFTER else None


def webhook_deliver(*, delivery_id: int) -> WebhookDelivery | None:
    """One attempt at a due delivery (None when it is not due or someone else is attempting it)."""
    now = clock.now()
    if not _claim(delivery_id, now):
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    code, error = _post(delivery)
    finished = clock.now()
    delivery.attempts += 1
    delivery.last_attempt_at, delivery.last_status_code, delivery.last_error = finished, code, error
    if code is not None and 200 <= code < 300:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.DELIVERED, finished, None
    else:
        delivery.next_attempt_at = next_attempt_after(
            attempts=delivery.attempts, created_at=delivery.created_at, now=finished
        )
        if delivery.next_attempt_at is None:
            delivery.status = DeliveryStatus.FAILED
        logger.warning("webhook %s to %s failed (%s)", delivery.event_id, delivery.endpoint.url, error)
    delivery.save(update_fields=["attempts", "last_attempt_at", "last_status_code", "last_error", "status",
                                 "delivered_at", "next_attempt_at"])  # fmt: skip
    if delivery.endpoint.partner_id is None and delivery.status != DeliveryStatus.PENDING:
        _queue_next_in_line(delivery)
    return delivery


def deliveries_due(*, now: dt.datetime | None = None, limit: int = 500) -> list[int]:
    """Pending deliveries whose next attempt is due (for the beat sweep); of an ordered endpoint, only the first."""
    return list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now or clock.now())
        .filter(~_waiting_in_line())
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )
