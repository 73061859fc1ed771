"""The messaging platform's question, thousands of times a second: may this hub send?

Answered from the active restrictions of the hub: one indexed lookup (the partial index on active rows), the same
cost for any hub. The API layer caches answers; `send_permission_forget` is called after every commit that
changes a hub's restrictions, so a cached answer is never stale after a payment or a block.
"""

from collections.abc import Iterable

from django.core.cache import cache

from billing.models import Blocks, Restriction
from billing.restrictions import SendPermission

CACHE_KEY = "send-permission:{hub_pk}"


def send_permission(*, hub_pk: int) -> SendPermission:
    rows = Restriction.objects.filter(
        hub_id=hub_pk, blocks=Blocks.OUTBOUND_MESSAGING, lifted_at__isnull=True
    ).values_list("reason", "detail", "started_at")
    reasons = [
        {"reason": reason, "detail": detail, "since": started_at.isoformat()} for reason, detail, started_at in rows
    ]
    return SendPermission(allowed=not reasons, reasons=reasons)


def send_permission_forget(*, hub_ids: Iterable[int]) -> None:
    cache.delete_many([CACHE_KEY.format(hub_pk=hub_pk) for hub_pk in hub_ids])
