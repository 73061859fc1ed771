"""Usage reconciliation: Meta's daily cost per WABA against what was rated, the difference posted to the ledger.

For a WABA and day (the day in the WABA's time zone, as `MessageUsage.rate_date`):
    rated      = Σ cost of the WABA's billable usage rated on that day          (6 places)
    target     = cents(rated − meta_cost)   negative when Meta billed more (the hub owes it), positive when less
    previous   = UsageReconciliation.adjustment (0 when the day was never reconciled)
    delta      = target − previous          posted as one RECONCILIATION entry when not zero
so re-importing a day posts nothing and a corrected figure posts only the new difference. The file is checked whole
before anything is written: one bad line rejects it (like the rate card loader).
"""

import csv
import datetime as dt
import re
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import DecimalField, Sum
from djmoney.money import Money

from billing.ledger import Posting, accounts_lock, post_locked
from billing.models import CreditAccount, EntryKind, LedgerEntry, MessageUsage, UsageReconciliation
from billing.money import cents, micros
from billing.sql import one_of
from core import clock
from hub.models import Waba

COLUMNS = ["date", "waba_id", "currency", "cost"]
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_COST = Decimal("99999999.999999")  # UsageReconciliation.meta_cost: 14 digits, 6 places
ZERO_CENTS = Decimal("0.00")
# A WABA's day spans at most these UTC bounds (time zones run from UTC−12 to UTC+14); used to reach the usage
# rows through the (waba, sent_at) index instead of scanning the WABA's whole history.
DAY_REACH = dt.timedelta(days=1)


class ReconciliationError(Exception):
    """The file was rejected; `problems` lists (line number, reason). Nothing was posted."""

    def __init__(self, problems: list[tuple[int, str]]):
        self.problems = problems
        super().__init__("; ".join(f"line {line}: {reason}" for line, reason in problems[:20]))


@dataclass(frozen=True)
class ReconciliationRow:
    """One line of Meta's report: what Meta billed for a WABA on a day (in the WABA's time zone)."""

    line: int
    waba: Waba
    day: dt.date
    currency: str
    meta_cost: Decimal


@dataclass(frozen=True)
class ReconciliationResult:
    waba: Waba
    day: dt.date
    currency: str
    meta_cost: Decimal
    rated_cost: Decimal
    previous: Decimal  # adjustment posted for this WABA and day before this import
    adjustment: Decimal  # adjustment posted in total after it
    posted: Decimal  # the RECONCILIATION entry this import posted (0: none)


# --- Parsing -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    line: int
    day: dt.date
    waba_id: str
    currency: str
    meta_cost: Decimal


def _line_parse(line: int, row: dict) -> _Line | str:
    """The line's values, or why they are malformed (checks that need no database)."""
    raw_date = row["date"].strip()
    try:
        if not ISO_DATE.fullmatch(raw_date):
            raise ValueError
        day = dt.date.fromisoformat(raw_date)
    except ValueError:
        return f"date {row['date']!r} is not a date (YYYY-MM-DD)"
    waba_id = row["waba_id"].strip()
    if not waba_id.isdigit():
        return f"waba_id {row['waba_id']!r} is not a WABA id (digits only)"
    try:
        meta_cost = Decimal(row["cost"].strip())
    except InvalidOperation:
        return f"cost {row['cost']!r} is not a number"
    if not meta_cost.is_finite() or meta_cost < 0 or meta_cost > MAX_COST:
        return f"cost {row['cost']!r} must be between 0 and {MAX_COST}"
    if meta_cost.as_tuple().exponent < -6:
        return f"cost {row['cost']!r} has more than 6 decimal places"
    return _Line(line, day, waba_id, row["currency"].strip(), meta_cost)


def _row_check(parsed: _Line, waba: Waba | None, now: dt.datetime) -> ReconciliationRow | str:
    """The row, or why it does not fit the WABA it names."""
    if waba is None:
        return f"waba_id {parsed.waba_id} is not a known WABA"
    if parsed.currency != waba.hub.currency:
        return (
            f"currency {parsed.currency!r} is not the currency of WABA {waba.meta_waba_id} "
            f"(its hub is billed in {waba.hub.currency})"
        )
    today = now.astimezone(zoneinfo.ZoneInfo(waba.timezone)).date()
    if parsed.day > today:
        return f"date {parsed.day} is in the future (today is {today} in the WABA's time zone {waba.timezone})"
    return ReconciliationRow(parsed.line, waba, parsed.day, parsed.currency, parsed.meta_cost)


def reconciliation_parse(*, lines: Iterable[str]) -> list[ReconciliationRow]:
    """Every line of Meta's daily cost report (`date,waba_id,currency,cost`), or ReconciliationError listing every
    bad line with its file line number."""
    reader = csv.DictReader(lines)
    if reader.fieldnames is None or [f.strip() for f in reader.fieldnames] != COLUMNS:
        raise ReconciliationError([(1, f"header must be exactly: {','.join(COLUMNS)}")])
    parsed, problems, seen = [], [], {}
    for row in reader:
        line = reader.line_num
        if None in row or any(value is None for value in row.values()):
            problems.append((line, f"expected {len(COLUMNS)} columns"))
            continue
        result = _line_parse(line, row)
        if isinstance(result, str):
            problems.append((line, result))
            continue
        key = (result.day, result.waba_id)
        if key in seen:
            problems.append((line, f"duplicate of line {seen[key]} for the same date and WABA"))
            continue
        seen[key] = line
        parsed.append(result)
    rows = _rows_check(parsed, problems)
    if not parsed and not problems:
        problems.append((1, "the file holds no costs"))
    if problems:
        raise ReconciliationError(sorted(problems))
    return rows


def _rows_check(parsed: list[_Line], problems: list[tuple[int, str]]) -> list[ReconciliationRow]:
    wabas = {
        waba.meta_waba_id: waba
        for waba in Waba.objects.filter(one_of("meta_waba_id", {p.waba_id for p in parsed})).select_related(
            "hub__credit_account"
        )
    }
    now, rows = clock.now(), []
    for line in parsed:
        result = _row_check(line, wabas.get(line.waba_id), now)
        if isinstance(result, str):
            problems.append((line.line, result))
        else:
            rows.append(result)
    return rows


# --- Posting -------------------------------------------------------------------------------------------------------


def usage_reconcile(*, rows: Sequence[ReconciliationRow]) -> list[ReconciliationResult]:
    """Reconcile each (WABA, day) of `rows` (from `reconciliation_parse`): post the change of its adjustment as a
    RECONCILIATION entry and record the figures. One transaction; the hubs' credit accounts are locked (primary-key
    order) before the previous adjustments are read, so two imports of the same day serialize and the second posts
    only what the first did not."""
    if not rows:
        return []
    with transaction.atomic():
        accounts = accounts_lock(row.waba.hub.credit_account.id for row in rows)
        rated = _rated_costs(rows)
        existing = _reconciliations(rows)
        results = [_result(row, rated, existing) for row in rows]
        _post(accounts, results)
        _reconciliations_save(results, existing)
    return results


def _rated_costs(rows: Sequence[ReconciliationRow]) -> dict[tuple[int, dt.date], Decimal]:
    """(waba pk, day) -> cost of the WABA's billable usage rated on that day. One query."""
    days = {row.day for row in rows}
    first = dt.datetime.combine(min(days), dt.time.min, tzinfo=dt.UTC) - DAY_REACH
    last = dt.datetime.combine(max(days), dt.time.min, tzinfo=dt.UTC) + 2 * DAY_REACH
    sums = (
        MessageUsage.objects.filter(
            one_of("waba__id", {row.waba.id for row in rows}),
            sent_at__gte=first,
            sent_at__lt=last,
            rate_date__in=days,
            billable=True,
        )
        .order_by()
        .values("waba_id", "rate_date")
        .annotate(total=Sum("cost", output_field=DecimalField(max_digits=18, decimal_places=6)))
    )
    # SQLite sums in binary floating point; rounding to 6 places restores the exact decimal.
    return {(s["waba_id"], s["rate_date"]): micros(Decimal(s["total"])) for s in sums}


def _reconciliations(rows: Sequence[ReconciliationRow]) -> dict[tuple[int, dt.date], UsageReconciliation]:
    """The days already reconciled, by (waba pk, day). One query."""
    found = UsageReconciliation.objects.filter(
        one_of("waba__id", {row.waba.id for row in rows}), one_of("day", {row.day for row in rows})
    )
    return {(r.waba_id, r.day): r for r in found}


def _result(row: ReconciliationRow, rated: dict, existing: dict) -> ReconciliationResult:
    rated_cost = rated.get((row.waba.id, row.day), Decimal("0.000000"))
    previous = existing[(row.waba.id, row.day)].adjustment if (row.waba.id, row.day) in existing else ZERO_CENTS
    target = cents(rated_cost - row.meta_cost) + 0  # + 0: never a negative zero
    return ReconciliationResult(
        waba=row.waba,
        day=row.day,
        currency=row.currency,
        meta_cost=row.meta_cost,
        rated_cost=rated_cost,
        previous=previous,
        adjustment=target,
        posted=target - previous,
    )


def _post(accounts: dict[int, CreditAccount], results: list[ReconciliationResult]) -> None:
    changed = [result for result in results if result.posted]
    if not changed:
        return
    keys = [_key(result) for result in changed]
    taken = set(LedgerEntry.objects.filter(one_of("idempotency_key", keys)).values_list("idempotency_key", flat=True))
    sequences = {account_id: account.entry_count for account_id, account in accounts.items()}
    postings = []
    for result, key in zip(changed, keys, strict=True):
        account_id = result.waba.hub.credit_account.id
        sequences[account_id] += 1
        if key in taken:
            # The same change was posted before and undone since (A → B → A → B): a new movement, not a replay.
            # The entry's ledger sequence number makes its key unique.
            key = f"{key}@{sequences[account_id]}"
        postings.append(_posting(result, account_id, key))
    post_locked(accounts=accounts, postings=postings)


def _key(result: ReconciliationResult) -> str:
    return f"reconcile:{result.waba.meta_waba_id}:{result.day}:{result.previous}->{result.adjustment}"


def _posting(result: ReconciliationResult, account_id: int, key: str) -> Posting:
    """The day's last moment in UTC: the entry counts in that day's month, or, when that month's MCI is already
    issued, the ledger rolls it into the next open month."""
    return Posting(
        account_id=account_id,
        kind=EntryKind.RECONCILIATION,
        amount=Money(result.posted, result.currency),
        key=key,
        occurred_at=dt.datetime.combine(result.day, dt.time.max, tzinfo=dt.UTC),
        reference=f"Meta {result.waba.meta_waba_id} {result.day}",
        memo=(
            f"WABA {result.waba.meta_waba_id} on {result.day}: rated {result.rated_cost} {result.currency}, "
            f"Meta billed {result.meta_cost} {result.currency}; adjustment {result.previous} -> "
            f"{result.adjustment} {result.currency}."
        ),
    )


def _reconciliations_save(results: list[ReconciliationResult], existing: dict) -> None:
    """Record each day's figures: new days created, changed ones updated, unchanged ones left alone."""
    now = clock.now()
    new, changed = [], []
    for result in results:
        figures = {"meta_cost": result.meta_cost, "rated_cost": result.rated_cost, "adjustment": result.adjustment}
        record = existing.get((result.waba.id, result.day))
        if record is None:
            new.append(
                UsageReconciliation(
                    waba=result.waba, day=result.day, currency=result.currency, updated_at=now, **figures
                )
            )
        elif any(getattr(record, name) != value for name, value in figures.items()):
            for name, value in figures.items():
                setattr(record, name, value)
            record.updated_at = now
            changed.append(record)
    UsageReconciliation.objects.bulk_create(new)
    UsageReconciliation.objects.bulk_update(changed, ["meta_cost", "rated_cost", "adjustment", "updated_at"])


RECONCILE_CHUNK = 500


def usage_reconcile_chunked(
    *, rows: Sequence[ReconciliationRow], on_chunk=None, chunk_size: int = RECONCILE_CHUNK
) -> list[ReconciliationResult]:
    """`usage_reconcile` in chunks of WABA days, each committed on its own, telling `on_chunk(done, total)` after
    each: a long import shows progress, and one interrupted half way is completed by importing the same file again
    (a day already reconciled posts nothing). Rows are chunked in (WABA, day) order, so a hub's accounts are locked
    by one chunk at a time in a predictable order; the results come back in the file's order."""
    order = sorted(range(len(rows)), key=lambda i: (rows[i].waba.id, rows[i].day))
    results: dict[int, ReconciliationResult] = {}
    for start in range(0, len(order), chunk_size):
        chunk = order[start : start + chunk_size]
        results.update(zip(chunk, usage_reconcile(rows=[rows[i] for i in chunk]), strict=True))
        if on_chunk:
            on_chunk(min(start + chunk_size, len(order)), len(order))
    return [results[i] for i in range(len(rows))]  # in the file's order
