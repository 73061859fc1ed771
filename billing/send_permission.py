"""The messaging platform's question, thousands of times a second: may this hub send?

Answered from the active restrictions of the hub: one indexed lookup (the partial index on active rows), the same
cost for any hub. `send_permission_cached` answers from the cache; `send_permission_forget` is called after every
commit that changes a hub's restrictions (billing.restrictions._announce), so a cached answer is never stale after
a payment or a block.

Why a tombstone instead of a plain delete: a reader that missed the cache and read the restrictions just before a
change commits would otherwise store its (old) answer right after the change deleted the key. `forget` writes a
short-lived tombstone instead, readers only ever *add* (SET NX) an answer, and while the tombstone lives every read
goes to the database; so an answer read before a change can never be stored after it.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.cache import cache

from billing.models import Blocks, Restriction
from hub.models import Hub

CACHE_KEY = "send-permission:{hub_pk}"
MISSING = object()
FORGOTTEN = "forgotten"  # the tombstone
FORGOTTEN_SECONDS = 10  # longer than any read of the restrictions can take
ANSWER_SECONDS = 15 * 60  # a safety net only: every change invalidates the answer at once
HUB_PKS_KEPT = 100_000
_HUB_PKS: dict[str, int] = {}  # public hub id -> primary key, in this process


@dataclass(frozen=True)
class SendPermission:
    allowed: bool
    reasons: list[dict]


def send_permission(*, hub_pk: int) -> SendPermission:
    rows = Restriction.objects.filter(
        hub_id=hub_pk, blocks=Blocks.OUTBOUND_MESSAGING, lifted_at__isnull=True
    ).values_list("reason", "detail", "started_at")
    reasons = [
        {"reason": reason, "detail": detail, "since": started_at.isoformat()} for reason, detail, started_at in rows
    ]
    return SendPermission(allowed=not reasons, reasons=reasons)


def send_permission_cached(*, hub_pk: int, cached: object = MISSING) -> SendPermission:
    """The cached answer (no query), or the database's, which is then cached unless a change is in flight.
    `cached` is what the cache holds under CACHE_KEY, when the caller has already fetched it (with other keys)."""
    key = CACHE_KEY.format(hub_pk=hub_pk)
    if cached is MISSING:
        cached = cache.get(key)
    if cached is not None and cached != FORGOTTEN:
        return SendPermission(allowed=not cached, reasons=cached)
    permission = send_permission(hub_pk=hub_pk)
    if cached is None:
        cache.add(key, permission.reasons, ANSWER_SECONDS)
    return permission


def send_permission_forget(*, hub_ids: Iterable[int]) -> None:
    cache.set_many({CACHE_KEY.format(hub_pk=hub_pk): FORGOTTEN for hub_pk in hub_ids}, FORGOTTEN_SECONDS)


def hub_pk_cached(*, hub_id: str) -> int | None:
    """The primary key of the hub with this public id ("HUB-XXXXXXXX"), or None if there is none.

    Kept in the process's memory: a hub's public id never changes and hubs are never deleted (their ledger stays),
    so the mapping cannot go stale, and the hot path saves a cache round trip."""
    hub_pk = _HUB_PKS.get(hub_id)
    if hub_pk is None:
        hub_pk = Hub.objects.filter(hub_id=hub_id).values_list("pk", flat=True).first()
        if hub_pk is not None:
            if len(_HUB_PKS) >= HUB_PKS_KEPT:
                _HUB_PKS.clear()
            _HUB_PKS[hub_id] = hub_pk
    return hub_pk


def hub_pk_known(*, hub_id: str) -> int | None:
    """The hub's primary key if this process already knows it (no query, no cache round trip)."""
    return _HUB_PKS.get(hub_id)
