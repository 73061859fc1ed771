"""WhatsApp Cloud API webhooks in: Meta's status notifications become usage events for the batch service.

Meta posts `{"object": "whatsapp_business_account", "entry": [{"id": <WABA id>, "changes": [{"field": "messages",
"value": {"metadata": {"phone_number_id": …}, "statuses": [...]}}]}]}` and retries any non-2xx answer for days, so
everything it sends is acknowledged: statuses with pricing are rated through `usage_record_events`, everything else
that could matter (incoming messages, other fields, unknown numbers, statuses that cannot be rated) is kept as a
MetaWebhookSkip with the reason, for staff.
"""

import datetime as dt
import hashlib
import hmac
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import phonenumbers
from django.conf import settings
from django.db import transaction

from billing.models import MetaWebhookInbox, MetaWebhookSkip, PricingType
from billing.sql import one_of
from billing.usage.ingest import (
    FUTURE_TOLERANCE,
    SUPPORTED_PRICING_MODELS,
    UsageBatchResult,
    UsageEvent,
    usage_record_events,
)
from core import clock, fastjson
from hub.models import PhoneNumber

SIGNATURE_PREFIX = "sha256="
FREE_TYPES = frozenset({PricingType.FREE_CUSTOMER_SERVICE, PricingType.FREE_ENTRY_POINT})
PRICING_TYPES = frozenset(PricingType.values)  # PricingType.values rebuilds a list on every access
NEVER_CHARGED_STATUSES = frozenset({"failed"})
# Statuses rated per drain: one usage batch (one ledger entry per hub) for a burst of webhooks, small enough to keep
# the hubs' balance locks short. A single webhook carrying more is still drained whole, alone.
DRAIN_BATCH_STATUSES = 1000
FIRST_FETCH_ROWS = 16  # a drain's first read of the inbox (_inbox_take); the next is sized by what those carried
# Set (cache.add) when a webhook queues a drain task, forgotten by the task as it starts: one task per burst.
DRAIN_QUEUED_KEY = "meta-webhooks:drain-queued"
DRAIN_QUEUED_SECONDS = 10  # a lost task's mark expires, and the next webhook queues another (beat sweeps, too)


@dataclass
class MetaWebhookResult:
    statuses: int = 0  # status notifications in the webhook
    ignored: int = 0  # without pricing, or failed: nothing to rate, nothing kept
    usage: UsageBatchResult = field(default_factory=UsageBatchResult)
    skipped: int = 0


# JSON objects are dicts (orjson, json): `isinstance(x, dict)` is checked in C, `Mapping` through the ABC machinery,
# several times per status.
@dataclass(frozen=True)
class _Status:
    waba_id: str
    phone_number_id: str
    raw: dict


def meta_signature_valid(*, body: bytes, header: str | None) -> bool:
    """Whether X-Hub-Signature-256 is `sha256=` + the hex HMAC-SHA256 of the raw body with the app secret. Without
    an app secret configured nothing is valid: an unsigned endpoint would let anyone debit a hub."""
    secret = settings.META_APP_SECRET
    if not secret or not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len(SIGNATURE_PREFIX) :].strip().lower())


def meta_verification_answer(*, mode: str | None, token: str | None, challenge: str | None) -> str | None:
    """The challenge to echo when Meta's subscription check names our verify token; None to refuse it."""
    expected = settings.META_VERIFY_TOKEN
    if mode != "subscribe" or not expected or token is None or challenge is None:
        return None
    return challenge if hmac.compare_digest(expected.encode(), token.encode()) else None


def meta_webhook_receive(*, body: bytes) -> MetaWebhookInbox:
    """Keep a signed webhook's raw body (the caller verified the signature) for the drain; the caller queues the
    drain on commit. Stored before Meta gets its 200, so an acknowledged webhook is never lost. Outside a
    transaction the INSERT commits itself: one round trip, where BEGIN, INSERT and COMMIT were three (the
    endpoint waits on nothing else)."""
    return MetaWebhookInbox.objects.create(body=body, received_at=clock.now())


def meta_webhooks_drain(*, max_statuses: int = DRAIN_BATCH_STATUSES) -> int:
    """Rate the oldest unprocessed webhooks, up to `max_statuses` statuses, as one usage batch, and mark them
    processed in the same transaction; the number of webhooks drained (0: nothing left). Rows another drain holds
    are skipped (SKIP LOCKED); a crash rolls everything back, rows included, for the next drain. A webhook drained
    twice is impossible, and a webhook delivered twice debits once (the batch service dedupes by wamid)."""
    with transaction.atomic():
        taken, payloads = _inbox_take(max_statuses)
        if not taken:
            return 0
        meta_webhooks_ingest(payloads=payloads)
        MetaWebhookInbox.objects.filter(one_of("id", taken)).update(processed_at=clock.now())
    return len(taken)


def meta_webhooks_purge(*, retention_days: int, chunk: int = 10_000) -> int:
    """Delete the received webhooks rated more than `retention_days` ago (their usage rows, ledger entries and
    skips stay); a webhook not yet rated is never deleted. Walks the inbox in id order, `chunk` rows at a time, each
    chunk its own transaction (a purge cut short keeps what it did), and stops at the first chunk that reaches
    webhooks received since the cutoff: ids ascend with the receive time, so the daily purge reads about the rows it
    deletes, without an index on the times. The number deleted."""
    cutoff = clock.now() - dt.timedelta(days=retention_days)
    deleted, after = 0, 0
    while True:
        window = list(
            MetaWebhookInbox.objects.filter(id__gt=after)
            .order_by("id")
            .values_list("id", "received_at", "processed_at")[:chunk]
        )
        if not window:
            return deleted
        old = [row_id for row_id, received, processed in window if processed is not None and processed < cutoff]
        if old:
            deleted += MetaWebhookInbox.objects.filter(one_of("id", old)).delete()[0]
        after, last_received = window[-1][0], window[-1][1]
        if last_received >= cutoff:
            return deleted


def _inbox_take(max_statuses: int) -> tuple[list[int], list[object]]:
    """The ids and parsed bodies of the oldest unprocessed webhooks one batch rates, locked until the caller's
    transaction ends (rows another drain holds are skipped): at most `max_statuses` statuses (a first webhook
    carrying more is taken alone) and `max_statuses` webhooks.

    Read in rounds: a few rows first, then as many as the statuses per row read so far say the batch still needs.
    One query of `max_statuses` rows would read and lock a thousand bodies to rate ten webhooks of 100 statuses
    (21 MB per batch in bench/api_load.py), and keep the rows it did not take from a concurrent drain until commit.
    Webhooks of one status each take two rounds."""
    unprocessed = (
        MetaWebhookInbox.objects.filter(processed_at__isnull=True)
        .order_by("id")
        .select_for_update(skip_locked=True)
        .values_list("id", "body")
    )
    taken: list[int] = []
    payloads: list[object] = []
    statuses, after, limit = 0, 0, min(FIRST_FETCH_ROWS, max_statuses)
    while True:
        rows = list(unprocessed.filter(id__gt=after)[:limit])
        for row_id, body in rows:
            payload = _payload(bytes(body))
            count = _status_count(payload)
            if taken and statuses + count > max_statuses:
                return taken, payloads
            taken.append(row_id)
            payloads.append(payload)
            statuses += count
        if len(rows) < limit or statuses >= max_statuses or len(taken) >= max_statuses:
            return taken, payloads
        after = rows[-1][0]
        per_row = max(statuses / len(taken), 1.0)
        limit = min(max_statuses - len(taken), math.ceil((max_statuses - statuses) / per_row))


def _payload(body: bytes) -> object:
    try:
        return fastjson.loads(body, lambda: json.loads(body))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return body.decode("utf-8", "replace")  # kept as a skip: "not a WhatsApp Business Account webhook"


def _status_count(payload: object) -> int:
    """How many statuses the webhook carries, for the drain's batch size: the lengths of the status lists in
    Meta's shape, without building them (never fewer than `_statuses` yields), else the full walk."""
    try:
        return sum(
            len(change["value"].get("statuses") or ())
            for entry in payload["entry"]
            for change in entry["changes"]
            if change.get("field") == "messages"
        )
    except (TypeError, KeyError, AttributeError):
        return sum(1 for _ in _statuses(payload, lambda *args, **kwargs: None))


def meta_webhook_ingest(*, payload: object) -> MetaWebhookResult:
    """Rate the priced statuses of one webhook (a signed one: the caller verified it) and keep the rest as skips."""
    return meta_webhooks_ingest(payloads=[payload])


def meta_webhooks_ingest(*, payloads: list[object]) -> MetaWebhookResult:
    """Rate the priced statuses of several signed webhooks as one usage batch and keep the rest as skips."""
    now = clock.now()
    result = MetaWebhookResult()
    skips: list[MetaWebhookSkip] = []

    def skip(reason: str, part: object, *, waba_id="", phone_number_id="", field_name="", message_id="") -> None:
        skips.append(
            MetaWebhookSkip(
                received_at=now,
                waba_id=str(waba_id)[:64],
                phone_number_id=str(phone_number_id)[:64],
                field=str(field_name)[:64],
                message_id=str(message_id)[:128],
                reason=reason[:300],
                payload=part,
            )
        )

    statuses = [status for payload in payloads for status in _statuses(payload, skip)]
    result.statuses = len(statuses)
    numbers = _numbers_by_meta_id({s.phone_number_id for s in statuses})
    parsed: list[tuple[int, UsageEvent]] = []
    kept: list[_Status] = []
    for status in statuses:
        event = _event(status, numbers, now)
        if event is None:
            result.ignored += 1
        elif isinstance(event, str):
            skip(event, dict(status.raw), **_where(status))
        else:
            parsed.append((len(kept), event))
            kept.append(status)
    if parsed:
        result.usage = usage_record_events(parsed=parsed, now=now)
        for rejection in result.usage.rejected:
            status = kept[rejection.index]
            skip(rejection.reason, dict(status.raw), **_where(status))
    if skips:
        with transaction.atomic():
            MetaWebhookSkip.objects.bulk_create(skips)
    result.skipped = len(skips)
    return result


def _where(status: _Status) -> dict:
    return {
        "waba_id": status.waba_id,
        "phone_number_id": status.phone_number_id,
        "field_name": "messages",
        "message_id": str(status.raw.get("id") or ""),
    }


def _statuses(payload: object, skip) -> Iterator[_Status]:
    """The status notifications of a webhook; every other part goes to `skip` with the reason."""
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        skip("not a WhatsApp Business Account webhook", payload if isinstance(payload, dict | list) else str(payload))
        return
    entries = payload.get("entry")
    if not isinstance(entries, list):
        skip("webhook without entries", payload)
        return
    for entry in entries:
        waba_id = str(entry.get("id") or "") if isinstance(entry, dict) else ""
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            skip("entry without changes", entry, waba_id=waba_id)
            continue
        for change in changes:
            yield from _change_statuses(change, waba_id, skip)


def _change_statuses(change: object, waba_id: str, skip) -> Iterator[_Status]:
    if not isinstance(change, dict):
        skip("change is not an object", change, waba_id=waba_id)
        return
    field_name = str(change.get("field") or "")
    value = change.get("value")
    if field_name != "messages" or not isinstance(value, dict):
        skip(f"field {field_name!r} carries no message pricing", dict(change), waba_id=waba_id, field_name=field_name)
        return
    metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
    phone_number_id = str(metadata.get("phone_number_id") or "")
    messages = value.get("messages")
    if messages:
        count = len(messages) if isinstance(messages, list) else 1
        skip(
            f"{count} incoming message(s): customers' messages are not billed",
            {"metadata": dict(metadata), "messages": messages},
            waba_id=waba_id,
            phone_number_id=phone_number_id,
            field_name=field_name,
        )
    statuses = value.get("statuses") or []
    if not isinstance(statuses, list):
        skip("statuses is not a list", dict(value), waba_id=waba_id, phone_number_id=phone_number_id)
        return
    for status in statuses:
        if isinstance(status, dict):
            yield _Status(waba_id, phone_number_id, status)
        else:
            skip("status is not an object", status, waba_id=waba_id, phone_number_id=phone_number_id)


def _numbers_by_meta_id(meta_ids: set[str]) -> dict[str, str]:
    """Meta phone number id -> E.164 of our number, a live record before a deleted one; one query."""
    rows = PhoneNumber.objects.filter(one_of("meta_phone_number_id", meta_ids - {""})).values_list(
        "meta_phone_number_id", "e164", "status", "id"
    )
    found: dict[str, str] = {}
    for meta_id, e164, _status, _id in sorted(rows, key=lambda r: (r[2] != "deleted", r[3])):
        found[meta_id] = e164
    return found


def _event(status: _Status, numbers: dict[str, str], now: dt.datetime) -> UsageEvent | str | None:
    """The usage event of a status; None when there is nothing to rate (no pricing, failed); else the reason."""
    raw = status.raw
    pricing = raw.get("pricing")
    if not pricing or raw.get("status") in NEVER_CHARGED_STATUSES:
        return None
    if not isinstance(pricing, dict):
        return "pricing is not an object"
    message_id = raw.get("id")
    if not isinstance(message_id, str) or not 0 < len(message_id.strip()) <= 128:
        return "status without a message id (wamid)"
    e164 = numbers.get(status.phone_number_id)
    if e164 is None:
        return f"unknown phone number ID {status.phone_number_id!r} (set it on the number in admin)"
    if not status.waba_id.isdigit():
        return "entry without a WABA id"
    country = _recipient_country(raw)
    if country is None:
        return f"recipient_id {raw.get('recipient_id')!r} is not a phone number with a known country"
    category = pricing.get("category")
    if not isinstance(category, str) or not category.strip():
        return "pricing without a category"
    pricing_model = pricing.get("pricing_model") or "PMP"
    if pricing_model not in SUPPORTED_PRICING_MODELS:
        return f"pricing_model {pricing_model!r} is not supported (per-message pricing, PMP, only)"
    pricing_type = pricing.get("type")
    if pricing_type is None:
        # Older webhooks carry only the deprecated `billable` flag.
        billable = pricing.get("billable") is not False
        pricing_type = PricingType.REGULAR if billable else PricingType.FREE_CUSTOMER_SERVICE
    if pricing_type not in PRICING_TYPES:
        return f"unknown pricing type {pricing_type!r}: not rated until it is known whether Meta charges it"
    sent_at = _sent_at(raw.get("timestamp"))
    if sent_at is None:
        return f"timestamp {raw.get('timestamp')!r} is not Unix seconds"
    if sent_at > now + FUTURE_TOLERANCE:
        return "timestamp is in the future"
    return UsageEvent(
        message_id=message_id.strip(),
        waba_id=status.waba_id,
        phone_number=e164,
        recipient_country=country,
        category=category.strip().lower(),
        billable=pricing_type == PricingType.REGULAR,
        pricing_model=pricing_model,
        sent_at=sent_at,
        pricing_type=pricing_type,
        estimated=country == "",
    )


def _recipient_country(raw: dict) -> str | None:
    """ISO country of the recipient's number; "" for a recipient Meta names only by a business-scoped user id
    (rated at the rest-of-world market, flagged estimated); None when the number has no known country."""
    recipient = str(raw.get("recipient_id") or "").strip()
    if not recipient:
        return "" if raw.get("recipient_user_id") else None
    return _single_region(recipient.lstrip("+")) or _country_of_number(recipient)


def _single_region(digits: str) -> str | None:
    """The country of a number whose calling code belongs to one country only (all but 12 of them), read from the
    calling code as libphonenumber would (it answers that code's country for any number it parses), without its
    parse, the dearest step of a status; None where only the parse can tell (a shared or non-geographic code, a
    national number of a length libphonenumber refuses, anything but digits)."""
    if not digits.isascii() or not digits.isdigit() or digits[0] == "0":
        return None
    for length in (1, 2, 3):
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:length]))
        if regions is not None:
            break
    else:
        return None
    if len(regions) != 1 or regions[0] == "001" or not 2 <= len(digits) - length <= 17:
        return None
    return regions[0]


@lru_cache(maxsize=65536)
def _country_of_number(recipient: str) -> str | None:
    """By libphonenumber's parse, remembered: a recipient's sent and delivered statuses both carry the pricing."""
    try:
        number = phonenumbers.parse("+" + recipient.lstrip("+"))
    except phonenumbers.NumberParseException:
        return None
    # The number's own region where libphonenumber knows it (+1 is the US, Canada and the Caribbean), else the
    # calling code's main country: an unassigned local range still tells the market.
    region = phonenumbers.region_code_for_number(number)
    region = region or phonenumbers.region_code_for_country_code(number.country_code)
    return None if region in ("ZZ", "001") else region


def _sent_at(value: object) -> dt.datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        return None
    try:
        return dt.datetime.fromtimestamp(int(value), tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None
