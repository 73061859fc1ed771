"""Usage ingestion: message status events in, rated usage and USAGE ledger debits out.

This is the hot path (the messaging platform posts thousands of events a second), so a batch costs a constant
number of round trips, whatever its size: WABAs, numbers, rates, allowances, periods, entry ids, the usage rows (COPY
into a staging table, one INSERT … ON CONFLICT), volume counters, accounts lock, entry keys, entries (COPY), balances.
Each event is either recorded whole or rejected with its index and reason; nothing is half-applied.
"""

import datetime as dt
import random
import time
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from operator import itemgetter

import phonenumbers
from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction

from billing.ledger import PeriodClosedMeanwhile, UsagePlacement, UsagePosted, usage_batch_post
from billing.markets import COUNTRY_MARKET, market_for_country
from billing.models import TIERED_CATEGORIES, Category, MessageUsage
from billing.sql import copy_escaped, copy_rows_new_only, copy_text, one_of
from billing.usage.allowances import allowance_free
from billing.usage.rating import RateBook
from billing.usage.tiers import volume_count, volume_rates
from core import clock
from hub.models import PhoneNumber, Waba, e164_error

REQUIRED_FIELDS = (
    "message_id",
    "waba_id",
    "phone_number",
    "recipient_country",
    "category",
    "billable",
    "timestamp",
)
SUPPORTED_PRICING_MODELS = ("PMP",)
FUTURE_TOLERANCE = dt.timedelta(minutes=10)
# WhatsApp Business messaging began after this: anything earlier is a wrong clock or a forged event, never usage.
EARLIEST_EVENT = dt.datetime(2015, 1, 1, tzinfo=dt.UTC)
RECORD_ATTEMPTS = 6  # concurrent batches sharing message ids settle within a few rounds
RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock detected, serialization failure
# Every country a message can go to: ISO 3166-1 and the regions libphonenumber reports for a number (Kosovo, XK,
# has no ISO code). One without a market of its own is rated at Meta's rest-of-world market, never rejected.
RECIPIENT_COUNTRIES = frozenset(COUNTRY_MARKET) | frozenset(phonenumbers.SUPPORTED_REGIONS)
CATEGORIES = frozenset(Category.values)  # Category.values rebuilds a list on every access
ZERO = Decimal(0)
# Whether this process's last batch met messages recorded before: the next one then goes the careful way first.
_meeting_recorded = False


class UsageBatchTooLarge(ValueError):
    pass


# Not frozen: a frozen dataclass sets each field through object.__setattr__, three times the cost of building an
# event (nothing changes one once parsed). Slots: no __dict__ per event, one object less for the collector to trace.
@dataclass(slots=True)
class UsageEvent:
    message_id: str
    waba_id: str
    phone_number: str
    recipient_country: str
    category: str
    billable: bool
    pricing_model: str
    sent_at: dt.datetime
    # Set by Meta's webhooks (billing.usage.meta_webhooks): its pricing.type, and whether the country is unknown.
    pricing_type: str = "regular"
    estimated: bool = False


@dataclass(frozen=True)
class Rejection:
    index: int
    reason: str


@dataclass
class UsageBatchResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    debited: dict[str, Decimal] = field(default_factory=dict)  # hub_id -> amount debited by this batch


@dataclass(frozen=True, slots=True)
class _WabaRef:
    """What rating needs of a WABA and its hub, read in one query without building model instances."""

    id: int
    meta_waba_id: str
    timezone: str
    hub_pk: int
    hub_id: str
    currency: str
    account_id: int
    client_id: int


class _Rated:
    """A located, rated event, and all that allowances (as an AllowanceItem), volume tiers (as a TierItem) and the
    ledger (as a UsageCharge) read of it: one object per message instead of four. `cost` is set by `_volume_priced`
    for each attempt at recording."""

    __slots__ = (
        "index", "event", "waba", "number_id", "rate_date", "market", "rate", "unrated", "message_id", "category",
        "sent_at", "occurred_at", "client_id", "currency", "account_id", "cost",
    )  # fmt: skip

    def __init__(self, index, event, waba, number_id, rate_date, market, rate, unrated=False):
        self.index, self.event, self.waba, self.number_id = index, event, waba, number_id
        self.rate_date, self.market, self.rate = rate_date, market, rate
        self.unrated = unrated  # a category this portal does not know yet and the card has no rate for: held at zero
        self.message_id, self.category = event.message_id, event.category
        self.sent_at = self.occurred_at = event.sent_at
        self.client_id, self.currency, self.account_id = waba.client_id, waba.currency, waba.account_id
        self.cost = rate if event.billable else ZERO

    @property
    def counter_key(self) -> tuple[int, str, str, dt.date]:
        """Its volume tier counter's key (TierItem.counter_key)."""
        return (self.client_id, self.market, self.category, self.rate_date.replace(day=1))


def usage_event_parse(raw: object, *, now: dt.datetime) -> UsageEvent | str:
    """The event, or the reason it is malformed (a plain sentence for the sender)."""
    return _event_parse(raw, now + FUTURE_TOLERANCE)


_required = itemgetter(*REQUIRED_FIELDS)
_REQUIRED_SET = frozenset(REQUIRED_FIELDS)


def _event_parse(raw: object, latest: dt.datetime) -> UsageEvent | str:
    """`usage_event_parse`, with the latest acceptable time computed once per batch."""
    if type(raw) is not dict and not isinstance(raw, Mapping):  # type(): a JSON object, without the ABC's check
        return "expected a JSON object"
    # Two C calls for the usual event that has them all.
    complete = type(raw) is dict and raw.keys() >= _REQUIRED_SET and None not in _required(raw)
    if not complete:
        missing = [name for name in REQUIRED_FIELDS if name not in raw or raw[name] is None]
        if missing:
            return "missing field(s): " + ", ".join(missing)
    message_id, waba_id = raw["message_id"], raw["waba_id"]
    if not isinstance(message_id, str) or not 0 < len(message_id.strip()) <= 128 or not _storable(message_id):
        return "message_id must be a non-empty string of at most 128 characters"
    if not isinstance(waba_id, str) or not waba_id.isascii() or not waba_id.isdigit() or len(waba_id) > 32:
        return "waba_id must be a string of at most 32 digits"
    if not isinstance(raw["phone_number"], str):
        return "phone number must be in E.164 format (+ and country code)"
    number_error = _e164_error(raw["phone_number"])
    if number_error:
        return number_error
    country = raw["recipient_country"]
    if not isinstance(country, str) or country.upper() not in RECIPIENT_COUNTRIES:
        return f"recipient_country {_shown(country)} is not an ISO 3166-1 alpha-2 country code"
    if not isinstance(raw["category"], str) or raw["category"] not in CATEGORIES:
        return f"unknown category {_shown(raw['category'])} (expected one of: {', '.join(Category.values)})"
    if not isinstance(raw["billable"], bool):
        return "billable must be true or false"
    pricing_model = raw.get("pricing_model") or "PMP"
    if not isinstance(pricing_model, str) or pricing_model not in SUPPORTED_PRICING_MODELS:
        return f"pricing_model {_shown(pricing_model)} is not supported (per-message pricing, PMP, only)"
    sent_at = _timestamp_parse(raw["timestamp"])
    if isinstance(sent_at, str):
        return sent_at
    if sent_at > latest:
        return "timestamp is in the future"
    if sent_at < EARLIEST_EVENT:
        return f"timestamp is before {EARLIEST_EVENT:%Y-%m-%d}, earlier than any WhatsApp Business message"
    return UsageEvent(
        message_id=message_id.strip(),
        waba_id=waba_id,
        phone_number=raw["phone_number"],
        recipient_country=country.upper(),
        category=raw["category"],
        billable=raw["billable"],
        pricing_model=pricing_model,
        sent_at=sent_at,
    )


def _storable(text: str) -> bool:
    """Whether PostgreSQL can store the text: no NUL, and valid Unicode (no lone surrogate from a JSON escape)."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(value: object) -> str:
    """A rejected value quoted for the reason, cut short (a sender's 10 kB string is not echoed back whole)."""
    text = ascii(value) if isinstance(value, str) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _timestamp_parse(value: object) -> dt.datetime | str:
    """ISO 8601 with an offset, or Unix seconds (as Meta's webhooks send them)."""
    digits = isinstance(value, str) and value.isascii() and value.isdigit()
    if isinstance(value, int) and not isinstance(value, bool) or digits:
        if len(str(value)) > 12:  # Unix seconds of year 33658: far beyond the accepted window
            return "timestamp is out of range"
        try:
            return dt.datetime.fromtimestamp(int(value), tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            return "timestamp is out of range"
    if not isinstance(value, str):
        return "timestamp must be an ISO 8601 string or Unix seconds"
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return f"timestamp {_shown(value)} is not ISO 8601"
    if parsed.tzinfo is None:
        return "timestamp needs a time zone offset (e.g. Z or +01:00)"
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:  # year 1 east of UTC, year 9999 west of it
        return "timestamp is out of range"


@lru_cache(maxsize=65536)
def _e164_error(value: str) -> str | None:
    """e164_error, remembered: a platform sends from a few thousand business numbers, and libphonenumber's parse
    is the dearest step of an event's checks."""
    return e164_error(value)


@lru_cache(maxsize=512)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def usage_record_batch(*, events: Sequence[object]) -> UsageBatchResult:
    """Rate and record a batch of message status events; debit billable costs from each hub's credit balance.

    Duplicates (a message id already recorded, or repeated in the batch) are counted and skipped, so a retried
    batch posts nothing twice. Usage is recorded whatever the hub's balance or restrictions: the message was
    delivered and Meta bills it.
    """
    if len(events) > settings.USAGE_MAX_BATCH:
        raise UsageBatchTooLarge(f"A batch holds at most {settings.USAGE_MAX_BATCH} events, got {len(events)}.")
    result = UsageBatchResult()
    now = clock.now()
    return usage_record_events(parsed=_parse_all(events, now, result), now=now, result=result)


def usage_record_events(
    *, parsed: list[tuple[int, UsageEvent]], now: dt.datetime, result: UsageBatchResult | None = None
) -> UsageBatchResult:
    """Rate and record events already parsed (by usage_event_parse or by Meta's webhook parser), each with its
    index in the sender's batch; `result` may already hold that batch's parse rejections and duplicates."""
    result = result if result is not None else UsageBatchResult()
    rated = _accepted_once(_rate(parsed, result), result)
    # On PostgreSQL the first attempt expects every message to be new (the platform reports a message once; a retry
    # or replay is rare) and COPYs the rows straight into the table; a message id recorded before (or by a
    # concurrent batch) makes the unique index refuse the COPY, nothing of the attempt stays, and the batch is
    # recorded again at once the careful way, which skips recorded ids. Where recorded ids keep coming (Meta sends
    # a status with pricing for sent, delivered and read), the batches after one that met them go the careful way
    # first, until one of them meets none.
    global _meeting_recorded
    optimistic = connection.vendor == "postgresql" and not _meeting_recorded
    attempt = 0
    while True:
        try:
            skipped = _record(rated, now, result, optimistic=optimistic)
            _meeting_recorded = skipped > 0
            break
        except IntegrityError:
            if optimistic:
                optimistic = False
                continue
            attempt += 1
            if attempt == RECORD_ATTEMPTS:
                raise
        except (PeriodClosedMeanwhile, OperationalError) as exc:
            attempt += 1
            if attempt == RECORD_ATTEMPTS or not _retryable(exc):
                raise
        # A concurrent batch recorded one of these message ids first (the retry sees them as duplicates), a month
        # was closed meanwhile (the retry counts the cost in the next one), or PostgreSQL broke a lock cycle.
        # Nothing of this attempt was written; anything else is a real error.
        time.sleep(random.uniform(0, 0.02 * attempt))  # noqa: S311 -- jitter, not security
    result.rejected.sort(key=lambda r: r.index)
    return result


def _retryable(exc: Exception) -> bool:
    if not isinstance(exc, OperationalError):
        return True
    return getattr(exc.__cause__, "sqlstate", None) in RETRYABLE_SQLSTATES


def _parse_all(events: Sequence[object], now: dt.datetime, result: UsageBatchResult) -> list[tuple[int, UsageEvent]]:
    parsed, latest = [], now + FUTURE_TOLERANCE
    for index, raw in enumerate(events):
        event = _event_parse(raw, latest)
        if isinstance(event, str):
            result.rejected.append(Rejection(index, event))
        else:
            parsed.append((index, event))
    return parsed


def _accepted_once(rated: list[_Rated], result: UsageBatchResult) -> list[_Rated]:
    """The first accepted copy of each message id. Deduplicating only accepted events keeps a valid copy whose
    earlier namesake was rejected (on another WABA, say): the rejected one never stood for the message."""
    unique, seen = [], set()
    for r in rated:
        if r.message_id in seen:
            result.duplicates += 1
        else:
            seen.add(r.message_id)
            unique.append(r)
    return unique


def _rate(parsed: list[tuple[int, UsageEvent]], result: UsageBatchResult) -> list[_Rated]:
    columns = (
        "id",
        "meta_waba_id",
        "timezone",
        "hub_id",
        "hub__hub_id",
        "hub__currency",
        "hub__credit_account__id",
        "hub__client_id",
    )
    wabas = {
        row[1]: _WabaRef(*row)
        for row in Waba.objects.filter(one_of("meta_waba_id", {e.waba_id for _, e in parsed}))
        .order_by()  # no ORDER BY (the model's ordering): compiling it costs more than the query
        .values_list(*columns)
    }
    numbers = _numbers_by_waba([w.id for w in wabas.values()], {e.phone_number for _, e in parsed})
    located = []  # each located event, rated below (market and rate set in place)
    for index, event in parsed:
        waba = wabas.get(event.waba_id)
        if waba is None:
            result.rejected.append(Rejection(index, f"unknown WABA {event.waba_id}"))
            continue
        number_id = numbers.get((waba.id, event.phone_number))
        if number_id is None:
            result.rejected.append(
                Rejection(index, f"phone number {event.phone_number} is not on WABA {waba.meta_waba_id}")
            )
            continue
        day = event.sent_at.astimezone(_zone(waba.timezone)).date()
        located.append(_Rated(index, event, waba, number_id, day, "", ZERO))
    if not located:
        return []
    book = RateBook.load(
        currencies={w.currency for w in wabas.values()},
        until=max(r.rate_date for r in located),
        countries={r.event.recipient_country for r in located},
        categories={r.category for r in located},
    )
    rated = []
    for r in located:
        event = r.event
        if not event.billable:
            r.market = market_for_country(event.recipient_country)
            rated.append(r)
            continue
        found = book.rate_for(
            currency=r.currency, country=event.recipient_country, category=event.category, day=r.rate_date
        )
        if found is None and event.category not in CATEGORIES:
            # Meta sent a category that is new to us and the card has no rate for: recorded at zero, never lost.
            r.market, r.unrated = market_for_country(event.recipient_country), True
            rated.append(r)
            continue
        if found is None:
            result.rejected.append(
                Rejection(
                    r.index,
                    f"no {r.currency} rate for {event.category} to {event.recipient_country} on {r.rate_date}",
                )
            )
            continue
        r.market, r.rate = found
        rated.append(r)
    return rated


def _numbers_by_waba(waba_ids: list[int], e164s: set[str]) -> dict[tuple[int, str], int]:
    """(waba pk, e164) -> number pk, preferring a live record over a deleted one of the same number."""
    rows = (
        PhoneNumber.objects.filter(one_of("waba__id", waba_ids), one_of("e164", e164s))
        .order_by()
        .values_list("waba_id", "e164", "id", "status")
    )
    found: dict[tuple[int, str], int] = {}
    for waba_id, e164, number_id, _status in sorted(rows, key=lambda r: (r[3] != "deleted", r[2])):
        found[(waba_id, e164)] = number_id
    return found


def _record(rated: list[_Rated], now: dt.datetime, result: UsageBatchResult, *, optimistic: bool) -> int:
    """Record the batch in one transaction; how many of its messages were recorded before (skipped)."""
    with transaction.atomic():
        # PostgreSQL's insert skips recorded ids itself (also those a concurrent batch is writing); elsewhere read them.
        # (Volume tiers and allowances read the recorded ids themselves, under their counters' locks.)
        on_postgresql = connection.vendor == "postgresql"
        seen = set() if on_postgresql else _recorded_message_ids([r.message_id for r in rated])
        fresh = [r for r in rated if r.message_id not in seen]
        tiered = _volume_priced(fresh)

        def rows_write(placements: list[UsagePlacement]) -> set[int]:
            written = set(_usage_insert(fresh, placements, now, optimistic=optimistic))
            # The month's counts of charged messages (volume tiers) move on by what was written, nothing else.
            volume_count(r for r in tiered if r.message_id in written)
            return {i for i, _, _ in placements if fresh[i].message_id in written}

        posted = usage_batch_post(charges=fresh, rows_write=rows_write) if fresh else UsagePosted([], set())
    result.accepted = len(posted.written)
    skipped = len(rated) - len(posted.written)
    result.duplicates += skipped
    hub_of_account = {r.account_id: r.waba.hub_id for r in fresh}
    for entry in posted.entries:
        hub_id = hub_of_account[entry.account_id]
        result.debited[hub_id] = result.debited.get(hub_id, Decimal(0)) - entry.amount
    return skipped


def _volume_priced(fresh: list[_Rated]) -> list[_Rated]:
    """Set each message's cost (0 for one that is not billable or is inside its number's monthly free allowance;
    the volume tier's rate for a charged utility or authentication message where the card has tiers); return the
    charged messages that count towards the volume tiers."""
    costly = []
    for r in fresh:
        r.cost = r.rate if r.event.billable else ZERO
        if r.event.billable and not r.unrated:
            costly.append(r)
    if not costly:
        return []
    free = allowance_free(costly)
    for n in free:
        costly[n].cost = ZERO
    charged = [r for n, r in enumerate(costly) if n not in free and r.category in TIERED_CATEGORIES]
    for item_index, rate in volume_rates(charged).items():
        charged[item_index].cost = rate
    return charged


def _recorded_message_ids(message_ids: list[str]) -> set[str]:
    rows = MessageUsage.objects.filter(one_of("message_id", message_ids)).order_by()
    return set(rows.values_list("message_id", flat=True))


USAGE_COLUMNS = (
    "message_id",
    "hub_id",
    "waba_id",
    "phone_number_id",
    "recipient_country",
    "market",
    "category",
    "pricing_model",
    "billable",
    "pricing_type",
    "estimated",
    "unrated",
    "sent_at",
    "rate_date",
    "rate",
    "cost",
    "currency",
    "period",
    "ledger_entry_id",
    "recorded_at",
)


def _usage_insert(
    fresh: list[_Rated], placements: list[UsagePlacement], now: dt.datetime, *, optimistic: bool
) -> list[str]:
    """Insert the placed usage rows; return the message ids written. PostgreSQL (the hot path): the rows as COPY's
    text, each formatted in one step (psycopg's adaptation of 20 values a row cost more than the database's own
    work); `optimistic`, COPYed straight into the table in message id order (concurrent batches sharing ids wait on
    each other in one order, never in a cycle), a message id recorded before or by a concurrent batch failing the
    COPY with IntegrityError; otherwise COPYed into a temporary table and moved by one INSERT that skips such ids
    (about twice the database's work of the straight COPY). Elsewhere bulk_create (one writer at a time, and the
    recorded ids were read first)."""
    if not placements:
        return []
    if connection.vendor != "postgresql":
        rows = [_usage_row(fresh[i], period, entry_id, now) for i, period, entry_id in placements]
        MessageUsage.objects.bulk_create([MessageUsage(**dict(zip(USAGE_COLUMNS, row, strict=True))) for row in rows])
        return [row[0] for row in rows]
    if optimistic:
        placements = sorted(placements, key=lambda placement: fresh[placement[0]].message_id)
    recorded_at = f"{now}"
    text = "".join([_usage_line(fresh[i], period, entry_id, recorded_at) for i, period, entry_id in placements])
    if optimistic:
        copy_text(MessageUsage, USAGE_COLUMNS, text)
        return [fresh[i].message_id for i, _, _ in placements]
    return copy_rows_new_only(MessageUsage, USAGE_COLUMNS, text, unique="message_id")


_BOOL = {True: "t", False: "f"}
_NULL = "\\N"


def _usage_line(r: _Rated, period: dt.date, entry_id: int | None, recorded_at: str) -> str:
    """The row in USAGE_COLUMNS order as a line of COPY's text format (what `_usage_row` holds, formatted)."""
    event, waba, cost = r.event, r.waba, str(r.cost)
    return (
        f"{copy_escaped(event.message_id)}\t{waba.hub_pk}\t{waba.id}\t{r.number_id}\t{event.recipient_country}\t"
        f"{r.market}\t{copy_escaped(event.category)}\t{event.pricing_model}\t{_BOOL[event.billable]}\t"
        f"{event.pricing_type}\t{_BOOL[event.estimated]}\t{_BOOL[r.unrated]}\t{event.sent_at}\t{r.rate_date}\t"
        f"{cost}\t{cost}\t{waba.currency}\t{period}\t{_NULL if entry_id is None else entry_id}\t{recorded_at}\n"
    )


def _usage_row(r: _Rated, period: dt.date, entry_id: int | None, now: dt.datetime) -> tuple:
    """The row in USAGE_COLUMNS order. Its rate is what it was priced at: the card's (or its volume tier's) rate for a
    charged message, 0 for one that is not billable or inside a free allowance, so rate and cost are the same."""
    event = r.event
    return (
        event.message_id,
        r.waba.hub_pk,
        r.waba.id,
        r.number_id,
        event.recipient_country,
        r.market,
        event.category,
        event.pricing_model,
        event.billable,
        event.pricing_type,
        event.estimated,
        r.unrated,
        event.sent_at,
        r.rate_date,
        r.cost,
        r.cost,
        r.waba.currency,
        period,
        entry_id,
        now,
    )
