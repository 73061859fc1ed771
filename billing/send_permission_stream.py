"""Every change of a hub's send permission, pushed to the messaging platform on a Redis Stream, so the platform
keeps its own copy and never asks per message.

Each entry is a hub's *whole* answer after a change (hub id, allowed, reasons), under a sequence number: the
stream entry's id is "<seq>-0", seq from one INCR, both written by one Lua script (atomic, so ids only grow).
Commit order per hub: the entry is written after the change commits (billing.restrictions._announce), in a
short transaction holding a per-hub advisory lock, reading the hub's answer then; two publications for one hub
are serialised by the lock and each reads after its own commit, so the hub's LAST entry is always its current
answer (a late publisher reads the newer state). Entries are idempotent states, so replaying is harmless.

The same entries go to the platform's URL as signed webhooks (`hub.send_permission`, payload: seq, hub_id, allowed,
reasons, committed_at) when settings.OUTBOUND_WEBHOOKS names a "send-permission" endpoint: written as deliveries of
billing.outbound_webhooks in the same short transaction, after the entries got their numbers, so the webhooks are
in sequence order per hub and go out in that order (a platform endpoint is delivered in order, with its retries and
delivery log). Nothing is published for a change whose transaction rolled back: this runs on its commit only.

No change is lost between its commit and its publication: the change's transaction marks the hub unpublished
(SendPermissionUnpublished, a version per change), the publication removes the mark at the version it read after
its locks, in its own transaction, and only once the stream has the entries; a publisher that died or met a Redis
outage leaves the mark, and `send_permission_unpublished_sweep` (beat, every minute) publishes those hubs.

`send_permission_changes(since=SEQ)` serves GET /api/v1/send-permissions: the entries after SEQ, or the full
snapshot (every blocked hub) when SEQ is absent or older than the stream still holds (it is trimmed to
STREAM_MAXLEN entries).
"""

import datetime as dt
import json
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import connection, transaction

from billing.models import Blocks, Restriction, SendPermissionUnpublished, WebhookEndpoint
from billing.outbound_webhooks import WebhookUrlError, platform_endpoint, webhook_event_series_publish
from core import clock
from hub.models import Hub

log = logging.getLogger(__name__)
STREAM_KEY = "send-permissions:stream"
SEQ_KEY = "send-permissions:seq"
STREAM_MAXLEN = 1_000_000  # ~weeks of changes; an older `since` gets the snapshot
ADVISORY_LOCK_CLASS = 7214  # pg_advisory_xact_lock(class, hub_pk): this module's lock space
PAGE_MAX = 1000
WEBHOOK_ENDPOINT = "send-permission"  # its entry in settings.OUTBOUND_WEBHOOKS
WEBHOOK_EVENT = "hub.send_permission"
_XADD = """
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], seq .. '-0', 'hub_id', ARGV[2], 'allowed', ARGV[3],
           'reasons', ARGV[4], 'committed_at', ARGV[5])
return seq
"""
_client: redis.Redis | None = None


class SendPermissionStreamError(Exception):
    """A `since` that is not a sequence number."""


@dataclass(frozen=True)
class Changes:
    seq: int  # the sequence number to ask `since` next time
    snapshot: bool
    entries: list[dict]  # changes (snapshot=False) or the blocked hubs (snapshot=True)
    more: bool = False


def stream_client() -> redis.Redis | None:
    """The Redis the stream lives on (settings.REDIS_URL); None without one (`make run` without services)."""
    global _client
    if _client is None and settings.REDIS_URL:
        _client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    return _client


def _answers(hub_pks: list[int]) -> dict[int, list[dict]]:
    rows = Restriction.objects.filter(
        hub_id__in=hub_pks, blocks=Blocks.OUTBOUND_MESSAGING, lifted_at__isnull=True
    ).values_list("hub_id", "reason", "detail", "started_at")
    answers: dict[int, list[dict]] = {pk: [] for pk in hub_pks}
    for hub_pk, reason, detail, started_at in rows.order_by("hub_id", "started_at", "id"):
        answers[hub_pk].append({"reason": reason, "detail": detail, "since": started_at.isoformat()})
    return answers


def send_permission_publish(*, hub_ids: Iterable[int]) -> list[int]:
    """Publish the current answer of each hub (primary keys) to the stream; return the sequence numbers.
    Called on commit of a change. Hubs are locked in key order (no deadlock between two publishers)."""
    client = stream_client()
    hub_pks = sorted(set(hub_ids))
    if client is None or not hub_pks:
        return []
    script = client.register_script(_XADD)
    seqs = []
    with transaction.atomic():
        with connection.cursor() as cursor:
            for hub_pk in hub_pks:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ADVISORY_LOCK_CLASS, hub_pk])
            cursor.execute("SELECT now()")
            (now,) = cursor.fetchone()
        # The marks as of now (after the locks): the answers below are read after these changes committed.
        marks = list(SendPermissionUnpublished.objects.filter(hub_id__in=hub_pks).values_list("hub_id", "version"))
        public_ids = dict(Hub.objects.filter(pk__in=hub_pks).values_list("pk", "hub_id"))
        answers = _answers(hub_pks)
        endpoint = _webhook_endpoint()
        pipe = client.pipeline(transaction=False)
        for hub_pk in hub_pks:
            reasons = answers[hub_pk]
            args = [STREAM_MAXLEN, public_ids[hub_pk], "0" if reasons else "1", json.dumps(reasons), now.isoformat()]
            script(keys=[STREAM_KEY, SEQ_KEY], args=args, client=pipe)
        seqs = [int(seq) for seq in pipe.execute()]
        if endpoint is not None:
            committed_at = now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
            payloads = [
                {"seq": seq, "hub_id": public_ids[hub_pk], "allowed": not answers[hub_pk],
                 "reasons": answers[hub_pk], "committed_at": committed_at}
                for hub_pk, seq in zip(hub_pks, seqs, strict=True)
            ]  # fmt: skip
            webhook_event_series_publish(endpoint=endpoint, event_type=WEBHOOK_EVENT, payloads=payloads)
        if marks:
            # Published: remove the marks read above. A mark whose change committed since has another version and
            # stays; one an uncommitted change holds is skipped, not waited for (that change has its own
            # publication coming, and waiting could deadlock with it): it stays too.
            published = (
                SendPermissionUnpublished.objects.filter(
                    hub_id__in=[hub for hub, _ in marks], version__in=[version for _, version in marks]
                )
                .select_for_update(skip_locked=True)
                .values_list("hub_id", flat=True)
            )
            SendPermissionUnpublished.objects.filter(hub_id__in=list(published)).delete()
    return seqs


def send_permission_unpublished_mark(*, hub_ids: Iterable[int]) -> None:
    """In the transaction that changes these hubs' send permission: mark them unpublished, with a new version
    (random: two changes never share one), so the change reaches the stream even if its on-commit publication
    never runs. One upsert; a concurrent change of the same hub waits for this one's commit, then sets its own.
    Nothing without a stream (no REDIS_URL: `make run`)."""
    if stream_client() is None:
        return
    now = clock.now()
    SendPermissionUnpublished.objects.bulk_create(
        [
            SendPermissionUnpublished(hub_id=pk, version=secrets.randbits(62), changed_at=now)
            for pk in sorted(set(hub_ids))
        ],
        update_conflicts=True,
        unique_fields=["hub"],
        update_fields=["version", "changed_at"],
    )


UNPUBLISHED_GRACE = dt.timedelta(seconds=30)  # the on-commit publication's own time to run


def send_permission_unpublished_sweep(*, grace: dt.timedelta = UNPUBLISHED_GRACE) -> int:
    """Beat, every minute: publish the hubs whose change committed more than `grace` ago and is still not on the
    stream (a publisher died, Redis was down); the number of hubs published."""
    if stream_client() is None:
        return 0
    stale = list(
        SendPermissionUnpublished.objects.filter(changed_at__lt=clock.now() - grace)
        .order_by("hub_id")
        .values_list("hub_id", flat=True)[:PAGE_MAX]
    )
    if stale:
        send_permission_publish(hub_ids=stale)
    return len(stale)


def _webhook_endpoint() -> WebhookEndpoint | None:
    """The platform's endpoint when settings name one. A URL the delivery service refuses is logged and skipped:
    the stream (and the feed) must not stop for it."""
    if WEBHOOK_ENDPOINT not in settings.OUTBOUND_WEBHOOKS:
        return None
    try:
        return platform_endpoint(name=WEBHOOK_ENDPOINT)
    except WebhookUrlError:
        log.exception("The platform's send-permission webhook URL is refused; only the stream is published")
        return None


def _entry(entry_id: str, fields: dict) -> dict:
    return {
        "seq": int(entry_id.split("-", 1)[0]),
        "hub_id": fields["hub_id"],
        "allowed": fields["allowed"] == "1",
        "reasons": json.loads(fields["reasons"]),
    }


def send_permission_snapshot() -> Changes:
    """Every hub blocked now, with the sequence number to follow the stream from. The number is read before the
    database: a change committed meanwhile is both in the snapshot and replayed after it (harmless, idempotent)."""
    client = stream_client()
    seq = int(client.get(SEQ_KEY) or 0) if client is not None else 0
    blocked = sorted(
        set(
            Restriction.objects.filter(
                blocks=Blocks.OUTBOUND_MESSAGING, lifted_at__isnull=True, hub_id__isnull=False
            ).values_list("hub_id", flat=True)
        )
    )
    answers = _answers(blocked)
    public_ids = dict(Hub.objects.filter(pk__in=blocked).values_list("pk", "hub_id"))
    entries = [
        {"hub_id": public_ids[pk], "allowed": False, "reasons": answers[pk]}
        for pk in sorted(blocked, key=lambda pk: public_ids[pk])
    ]
    return Changes(seq=seq, snapshot=True, entries=entries)


def send_permission_changes(*, since: str | None, limit: int = PAGE_MAX) -> Changes:
    """The changes after sequence number `since` (at most `limit`), or the snapshot when `since` is None or
    older than what the stream still holds."""
    if since is None:
        return send_permission_snapshot()
    if not since.isdigit() or len(since) > 18:
        raise SendPermissionStreamError(f"since must be a sequence number (digits), not {since!r}.")
    client = stream_client()
    if client is None:
        return send_permission_snapshot()
    after = int(since)
    first = client.xrange(STREAM_KEY, count=1)
    current = int(client.get(SEQ_KEY) or 0)
    oldest = int(first[0][0].split("-", 1)[0]) if first else current + 1
    if after > current or (after + 1 < oldest and after < current):
        return send_permission_snapshot()  # trimmed away (or a number we never gave out): start over
    rows = client.xrange(STREAM_KEY, min=f"({after}-0", count=limit + 1)
    entries = [_entry(entry_id, fields) for entry_id, fields in rows[:limit]]
    return Changes(
        seq=entries[-1]["seq"] if entries else after, snapshot=False, entries=entries, more=len(rows) > limit
    )
