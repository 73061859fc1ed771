"""The credit ledger: the only code that writes LedgerEntry rows or CreditAccount.balance.

Every posting runs in one transaction that locks the affected accounts (primary-key order, so two writers never
deadlock), appends immutable entries and moves the cached balance by the same amounts. A posting whose idempotency
key already exists returns the existing entry instead of posting again; the unique index on the key is the last line
of defence against a concurrent duplicate.
"""

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from djmoney.money import Money

from billing.models import NEGATIVE_KINDS, POSITIVE_KINDS, CreditAccount, EntryKind, LedgerEntry
from billing.queue import enqueue_on_commit
from billing.sql import array_literal, copy_escaped, copy_objects, copy_text, ids_reserve, one_of
from core import clock

SIX_PLACES = Decimal("0.000001")
CENT = Decimal("0.01")
# Only rated usage carries sub-cent amounts, and ROUNDING squares them at month close; everything else moves cents,
# so every closed month's figures are exact in cents.
SUB_CENT_KINDS = (EntryKind.USAGE, EntryKind.ROUNDING)
ENTRY_KINDS = frozenset(EntryKind.values)  # .values builds a new list on every access


class LedgerError(Exception):
    """A posting the ledger refuses; nothing was written."""


class PeriodClosedMeanwhile(LedgerError):
    """A month was closed between reading the accounts and locking them: nothing was written; post the batch again
    (the retry counts the cost in the next open month)."""


@dataclass(frozen=True)
class Posting:
    account_id: int
    kind: str
    amount: Money
    key: str
    occurred_at: dt.datetime
    reference: str = ""
    memo: str = ""
    created_by_id: int | None = None
    entry_id: int | None = None  # reserved with `entry_ids_reserve` when rows referencing it are written first


def entry_ids_reserve(count: int) -> list[int]:
    """Entry ids drawn ahead (PostgreSQL), so rows that reference the entries can be written before them."""
    return ids_reserve(LedgerEntry, count)


def entry_period(*, account: CreditAccount, occurred_at: dt.datetime) -> dt.date:
    return period_for(closed_through=account.closed_through, occurred_at=occurred_at)


def period_for(*, closed_through: dt.date | None, occurred_at: dt.datetime) -> dt.date:
    """The billing month an entry counts in: its event's month, or, when that month's MCI is already issued, the
    month after the latest issued MCI (late data rolls forward; an issued MCI never changes)."""
    period = clock.month_start(occurred_at)
    if closed_through is not None and period <= closed_through:
        return clock.next_month(closed_through)
    return period


def accounts_lock(account_ids: Iterable[int]) -> dict[int, CreditAccount]:
    """Lock the accounts (SELECT … FOR UPDATE, in primary-key order) for the rest of the transaction."""
    ids = sorted(set(account_ids))
    locked = CreditAccount.objects.select_for_update().filter(one_of("id", ids)).order_by("id")
    accounts = {account.id: account for account in locked}
    missing = set(ids) - accounts.keys()
    if missing:
        raise LedgerError(f"Unknown credit account(s): {sorted(missing)}")
    return accounts


@dataclass(frozen=True, slots=True)
class UsageCharge:
    """One message's cost to a credit account (0 for a message that costs nothing), at its event time (any object
    with these attributes will do: ingestion passes its own rated messages, one object per message)."""

    account_id: int
    message_id: str
    occurred_at: dt.datetime
    cost: Decimal
    currency: str


# What `usage_batch_post` tells the caller to write for each charge: (index in `charges`, period, entry id or None).
UsagePlacement = tuple[int, dt.date, int | None]


@dataclass(frozen=True, slots=True)
class UsageDebit:
    """A USAGE entry a batch posted: what the caller reports (and what a replay is checked against)."""

    id: int
    account_id: int
    kind: str
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class UsagePosted:
    entries: list[LedgerEntry | UsageDebit]
    written: set[int]  # indexes of the charges whose rows were written (the others were already recorded)


def usage_batch_post(
    *, charges: Sequence[UsageCharge], rows_write: Callable[[list[UsagePlacement]], set[int]]
) -> UsagePosted:
    """Debit a batch of rated messages: one USAGE entry per (account, billing period) that cost anything, keyed by
    the hash of its message ids (a replayed batch posts nothing), and have `rows_write` write the messages' own rows
    in the same transaction, each with the period it counts in and the id of the entry that debits it.
    `rows_write` returns the indexes it wrote: a message another batch recorded meanwhile is left out, and only
    what was written is debited, so concurrent batches sharing messages debit each exactly once.

    The ledger owns the protocol. On PostgreSQL it locks late: the periods are read without a lock, the entry ids
    are reserved, the caller's rows are written, and only then are the accounts locked (primary-key order) for the
    debits, so concurrent batches wait on each other only briefly. If a month was closed in between, the whole
    transaction is abandoned with PeriodClosedMeanwhile and the caller posts the batch again. Elsewhere (one
    writer at a time) the accounts are locked first. Inside the caller's transaction it takes no savepoint of its
    own (two round trips a batch): a failure here abandons the caller's transaction, which is what the caller does."""
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            return _usage_lock_late(charges, rows_write)
        return _usage_lock_first(charges, rows_write)


def _usage_lock_first(charges: Sequence[UsageCharge], rows_write) -> UsagePosted:
    accounts = accounts_lock(c.account_id for c in charges)
    groups = _usage_groups(charges, {a.id: a.closed_through for a in accounts.values()})
    postings, keys = _usage_postings(charges, groups)
    entries = post_locked(accounts=accounts, postings=postings)
    written = rows_write(_usage_placements(charges, groups, {key: e.id for key, e in zip(keys, entries, strict=True)}))
    if len(written) != len(charges):
        raise LedgerError("usage rows were skipped while their accounts were locked")
    return UsagePosted(entries=entries, written=written)


def _usage_lock_late(charges: Sequence[UsageCharge], rows_write) -> UsagePosted:
    account_ids = {c.account_id for c in charges}
    closed = dict(
        CreditAccount.objects.filter(one_of("id", account_ids)).order_by().values_list("id", "closed_through")
    )
    groups = _usage_groups(charges, closed)
    costly = [key for key, members in groups.items() if any(charges[i].cost for i in members)]
    ids = dict(zip(costly, entry_ids_reserve(len(costly)), strict=True))  # an id left unused is only a gap
    written = rows_write(_usage_placements(charges, groups, ids))
    groups = {key: kept for key, members in groups.items() if (kept := [i for i in members if i in written])}
    postings, _ = _usage_postings(charges, groups, ids)
    accounts = accounts_lock(closed)
    if any(accounts[account_id].closed_through != closed_through for account_id, closed_through in closed.items()):
        raise PeriodClosedMeanwhile
    return UsagePosted(entries=_usage_post_locked(accounts, postings), written=written)


def _usage_post_locked(accounts: dict[int, CreditAccount], postings: Sequence[Posting]) -> list[UsageDebit]:
    """`post_locked` for a usage batch's debits on PostgreSQL (hundreds of accounts a batch), by the same rules
    (`_postings_plan`). The entries, whose ids were reserved, go to COPY as text lines, without building a model
    instance for each first."""
    keys = [p.key for p in postings]
    if len(set(keys)) != len(keys):  # each carries its own reserved entry id, which its messages' rows point at
        raise LedgerError("An idempotency key is used twice in one usage batch.")
    lines: list[str] = []
    now = clock.now()
    posted_at = f"{now}"

    def new(account: CreditAccount, posting: Posting) -> UsageDebit:
        amount, period = _move(account, posting)
        created_by = "\\N" if posting.created_by_id is None else posting.created_by_id
        lines.append(
            f"{posting.entry_id}\t{account.id}\t{posting.kind}\t{amount}\t{account.currency}\t{account.entry_count}\t"
            f"{account.balance}\t{period}\t{posting.occurred_at}\t{posted_at}\t{copy_escaped(posting.key)}\t"
            f"{copy_escaped(posting.reference[:200])}\t{copy_escaped(posting.memo)}\t{created_by}\n"
        )
        return UsageDebit(posting.entry_id, account.id, posting.kind, amount, account.currency)

    results, touched, before = _postings_plan(accounts, postings, new)
    if lines:
        copy_text(LedgerEntry, ("id", *ENTRY_COLUMNS), "".join(lines))
        _balances_moved(touched, before, now)
    return results


def _usage_groups(charges: Sequence[UsageCharge], closed: dict[int, dt.date | None]) -> dict[tuple, list[int]]:
    """Charge indexes by (credit account, billing period the cost counts in)."""
    groups: dict[tuple[int, dt.date], list[int]] = defaultdict(list)
    periods: dict[tuple, dt.date] = {}  # (closed through, UTC year, month) -> period: a batch spans a month or two
    for index, charge in enumerate(charges):
        at, closed_through = charge.occurred_at, closed[charge.account_id]
        if at.tzinfo is dt.UTC:
            period = periods.get(month := (closed_through, at.year, at.month))
            if period is None:
                period = periods[month] = period_for(closed_through=closed_through, occurred_at=at)
        else:
            period = period_for(closed_through=closed_through, occurred_at=at)
        groups[(charge.account_id, period)].append(index)
    return groups


def _usage_postings(
    charges: Sequence[UsageCharge], groups: dict[tuple, list[int]], entry_ids: dict | None = None
) -> tuple[list[Posting], list]:
    keys, postings = [], []
    for (account_id, period), members in groups.items():
        total = sum((charges[i].cost for i in members), Decimal(0))
        if total == 0:
            continue
        digest = hashlib.sha256("\n".join(sorted(charges[i].message_id for i in members)).encode()).hexdigest()
        postings.append(
            Posting(
                account_id=account_id,
                kind=EntryKind.USAGE,
                amount=Money(-total, charges[members[0]].currency),
                key=f"usage:{account_id}:{period:%Y-%m}:{digest}",
                occurred_at=max(charges[i].occurred_at for i in members),
                reference=f"{len(members)} messages",
                entry_id=entry_ids[(account_id, period)] if entry_ids is not None else None,
            )
        )
        keys.append((account_id, period))
    return postings, keys


def _usage_placements(charges: Sequence[UsageCharge], groups: dict, entry_ids: dict) -> list[UsagePlacement]:
    """Each charge with its period and the entry that debits it (none for a message that cost nothing)."""
    return [
        (index, period, entry_ids.get((account_id, period)) if charges[index].cost else None)
        for (account_id, period), members in groups.items()
        for index in members
    ]


def ledger_post(
    *,
    account: CreditAccount,
    kind: str,
    amount: Money,
    key: str,
    occurred_at: dt.datetime | None = None,
    reference: str = "",
    memo: str = "",
    created_by_id: int | None = None,
) -> LedgerEntry:
    """Post one entry (or return the entry already posted under `key`)."""
    posting = Posting(
        account_id=account.id,
        kind=kind,
        amount=amount,
        key=key,
        occurred_at=occurred_at or clock.now(),
        reference=reference,
        memo=memo,
        created_by_id=created_by_id,
    )
    return ledger_post_many(postings=[posting])[0]


def ledger_post_many(*, postings: Sequence[Posting]) -> list[LedgerEntry]:
    """Post many entries in one transaction with a constant number of queries; one entry returned per posting."""
    with transaction.atomic():
        accounts = accounts_lock(p.account_id for p in postings)
        return post_locked(accounts=accounts, postings=postings)


def post_locked(*, accounts: dict[int, CreditAccount], postings: Sequence[Posting]) -> list[LedgerEntry]:
    """Post to accounts the caller has already locked in this transaction (see `accounts_lock`)."""
    new_entries: list[LedgerEntry] = []
    now = clock.now()

    def new(account: CreditAccount, posting: Posting) -> LedgerEntry:
        entry = _new_entry(account, posting, now)
        new_entries.append(entry)
        return entry

    results, touched, before = _postings_plan(accounts, postings, new)
    if new_entries:
        _entries_insert(new_entries)
        _balances_moved(touched, before, now)
    return results


def _postings_plan(
    accounts: dict[int, CreditAccount], postings: Sequence[Posting], new: Callable[[CreditAccount, Posting], object]
) -> tuple[list, dict[int, CreditAccount], dict[int, Decimal]]:
    """The rules every writer of new entries follows: each posting validated against its locked account; a key
    already posted (or earlier in this batch) is a replay, checked and not posted again; every other posting moves
    its account (`new(account, posting)` builds the writer's own record of the entry, through `_move`). Returns one
    result per posting, the accounts moved and their balances before."""
    for posting in postings:
        _validate(posting, accounts[posting.account_id])
    keys = {p.key for p in postings}
    existing = {e.idempotency_key: e for e in LedgerEntry.objects.filter(one_of("idempotency_key", keys)).order_by()}
    results, touched, before = [], {}, {}
    for posting in postings:
        entry = existing.get(posting.key)
        if entry is None:
            account = accounts[posting.account_id]
            before.setdefault(account.id, account.balance)
            entry = existing[posting.key] = new(account, posting)
            touched[account.id] = account
        else:
            _check_replay(entry, posting)
        results.append(entry)
    return results, touched, before


def _balances_moved(touched: dict[int, CreditAccount], before: dict[int, Decimal], now: dt.datetime) -> None:
    """After the new entries are written: the accounts' cached balances in one statement, then the hooks."""
    _balances_save(list(touched.values()), now)
    _after_balances_moved(touched.values(), before)


def _after_balances_moved(accounts: Iterable[CreditAccount], before: dict[int, Decimal]) -> None:
    """Only balances that crossed a line matter (no query otherwise: usage debits hundreds of accounts a batch).
    Crossing 0.00 blocks or lifts outbound messaging in this transaction; falling below the auto top-up threshold,
    or below zero, queues the automatic top-up (the task issues one per dip, under the account's lock); crossing
    the client's low-balance alert or 0.00 queues one alert email and tells the partner's webhooks."""
    from billing.balance_alerts import balance_alerts_on_crossing
    from billing.partner_events import balance_low_publish
    from billing.restrictions import restrictions_on_balances

    crossed_zero = [a for a in accounts if (before[a.id] <= 0) != (a.balance <= 0)]
    if crossed_zero:
        restrictions_on_balances(accounts=crossed_zero)
    dipped = [a.id for a in accounts if _below_line(a, a.balance) and not _below_line(a, before[a.id])]
    if dipped:
        enqueue_on_commit("billing.auto_topup", dipped)
    balance_alerts_on_crossing(accounts=accounts, before=before)
    balance_low_publish(accounts=accounts, before=before)


def _below_line(account: CreditAccount, balance: Decimal) -> bool:
    return balance < 0 or (account.auto_renew and balance < account.auto_renew_threshold)


ENTRY_COLUMNS = (
    "account_id", "kind", "amount", "currency", "sequence", "balance_after", "period", "occurred_at", "posted_at",
    "idempotency_key", "reference", "memo", "created_by_id",
)  # fmt: skip


def _entries_insert(entries: list[LedgerEntry]) -> None:
    """Insert entries and set their ids: COPY on PostgreSQL (usage posts hundreds of entries a batch), bulk_create
    elsewhere."""
    if connection.vendor == "postgresql":
        copy_objects(LedgerEntry, entries, ENTRY_COLUMNS)
    else:
        LedgerEntry.objects.bulk_create(entries)


def _balances_save(accounts: list[CreditAccount], now: dt.datetime) -> None:
    """One UPDATE for all touched accounts (bulk_update's CASE expression costs milliseconds per row to build)."""
    for account in accounts:
        account.updated_at = now
    table = CreditAccount._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Three array parameters, not three a row: binding hundreds of parameters costs the driver more than
            # the update.
            cursor.execute(
                f"UPDATE {table} AS a SET balance = v.balance, entry_count = v.entry_count, "  # noqa: S608
                "updated_at = %s FROM unnest(%s::bigint[], %s::numeric[], %s::bigint[]) AS v(id, balance, entry_count) "
                "WHERE a.id = v.id",
                [
                    now,
                    array_literal(a.id for a in accounts),
                    array_literal(a.balance for a in accounts),
                    array_literal(a.entry_count for a in accounts),
                ],
            )
        else:
            cursor.executemany(
                f"UPDATE {table} SET balance = %s, entry_count = %s, updated_at = %s WHERE id = %s",  # noqa: S608
                # the ORM's text form of the time: raw SQL on SQLite must store what the ORM would
                [
                    (str(a.balance), a.entry_count, connection.ops.adapt_datetimefield_value(now), a.id)
                    for a in accounts
                ],
            )


def _move(account: CreditAccount, posting: Posting) -> tuple[Decimal, dt.date]:
    """Move the locked account by the posting (its running balance and sequence): the entry's amount and period.
    Both writers of new entries go through it (`_new_entry`'s model instances, the usage batch's COPY lines)."""
    amount = posting.amount.amount.quantize(SIX_PLACES)
    account.balance = (account.balance + amount).quantize(SIX_PLACES)
    account.entry_count += 1
    return amount, entry_period(account=account, occurred_at=posting.occurred_at)


def _new_entry(account: CreditAccount, posting: Posting, now: dt.datetime) -> LedgerEntry:
    amount, period = _move(account, posting)
    return LedgerEntry(
        id=posting.entry_id,
        account=account,
        kind=posting.kind,
        amount=amount,
        currency=account.currency,
        sequence=account.entry_count,
        balance_after=account.balance,
        period=period,
        occurred_at=posting.occurred_at,
        posted_at=now,
        idempotency_key=posting.key,
        reference=posting.reference[:200],
        memo=posting.memo,
        created_by_id=posting.created_by_id,
    )


def _validate(posting: Posting, account: CreditAccount) -> None:
    if posting.kind not in ENTRY_KINDS:
        raise LedgerError(f"Unknown entry kind {posting.kind!r}.")
    if not isinstance(posting.amount, Money):
        raise LedgerError("Ledger amounts must be Money (amount and currency), not bare numbers.")
    if str(posting.amount.currency) != account.currency:
        raise LedgerError(
            f"Currency mismatch: the credit account of hub {account.hub.hub_id} is in {account.currency}, "
            f"the amount is in {posting.amount.currency}."
        )
    amount = posting.amount.amount
    if amount != amount.quantize(SIX_PLACES):
        raise LedgerError(f"Amount {amount} has more than 6 decimal places.")
    if amount == 0:
        raise LedgerError("A ledger entry cannot be zero.")
    if posting.kind not in SUB_CENT_KINDS and amount != amount.quantize(CENT):
        raise LedgerError(f"{posting.kind} entries are whole cents, got {amount}.")
    if posting.kind in POSITIVE_KINDS and amount < 0:
        raise LedgerError(f"{posting.kind} entries must be positive, got {amount}.")
    if posting.kind in NEGATIVE_KINDS and amount > 0:
        raise LedgerError(f"{posting.kind} entries must be negative, got {amount}.")
    if posting.kind == EntryKind.MANUAL_ADJUSTMENT and not posting.memo.strip():
        raise LedgerError("A manual adjustment needs a reason.")
    if not posting.key or len(posting.key) > 200:
        raise LedgerError("An idempotency key of 1 to 200 characters is required.")
    if posting.occurred_at.tzinfo is None:
        raise LedgerError("occurred_at must be timezone-aware.")


def _check_replay(entry: LedgerEntry, posting: Posting) -> None:
    """A replay must be the same posting; the same key for a different movement is a caller bug."""
    same = (
        entry.account_id == posting.account_id and entry.kind == posting.kind and entry.amount == posting.amount.amount
    )
    if not same:
        raise LedgerError(
            f"Idempotency key {posting.key!r} was already used for {entry.kind} {entry.amount} {entry.currency} "
            f"on account {entry.account_id}."
        )


# --- set-based posting (PostgreSQL) ------------------------------------------------------------------------------

BATCH_COLUMNS = ("account_id", "kind", "amount", "currency", "key", "occurred_at", "reference", "memo")

# The batch's new rows numbered and running-balanced per account from the locked account's cached figures, inserted,
# and the cached balances moved by the same amounts, in one statement. The period rule is `period_for`'s.
BATCH_INSERT = """
WITH fresh AS (
    SELECT b.* FROM ledger_batch b
    WHERE NOT EXISTS (SELECT 1 FROM billing_ledgerentry e WHERE e.idempotency_key = b.key)
), numbered AS (
    SELECT f.*, a.entry_count + row_number() OVER w AS sequence,
           a.balance + sum(f.amount) OVER (w ROWS UNBOUNDED PRECEDING) AS balance_after,
           CASE WHEN a.closed_through IS NOT NULL
                     AND date_trunc('month', f.occurred_at AT TIME ZONE 'UTC')::date <= a.closed_through
                THEN (a.closed_through + interval '1 month')::date
                ELSE date_trunc('month', f.occurred_at AT TIME ZONE 'UTC')::date END AS period
    FROM fresh f JOIN billing_creditaccount a ON a.id = f.account_id
    WINDOW w AS (PARTITION BY f.account_id ORDER BY f.ord)
), inserted AS (
    INSERT INTO billing_ledgerentry (account_id, kind, amount, currency, sequence, balance_after, period,
        occurred_at, posted_at, idempotency_key, reference, memo, created_by_id)
    SELECT account_id, kind, amount, currency, sequence, balance_after, period, occurred_at, %(now)s, key,
           left(reference, 200), memo, NULL
    FROM numbered ORDER BY account_id, ord
    RETURNING account_id, amount
), moved AS (
    SELECT account_id, sum(amount) AS total, count(*) AS entries FROM inserted GROUP BY account_id
), touched AS (
    SELECT coalesce(m.account_id, c.id) AS account_id, coalesce(m.total, 0) AS total,
           coalesce(m.entries, 0) AS entries, c.id IS NOT NULL AS closing
    FROM moved m FULL JOIN unnest(%(closing)s::bigint[]) AS c(id) ON c.id = m.account_id
)
UPDATE billing_creditaccount a
SET balance = a.balance + t.total, entry_count = a.entry_count + t.entries,
    updated_at = CASE WHEN t.entries > 0 THEN %(now)s ELSE a.updated_at END,
    closed_through = CASE WHEN t.closing THEN %(closed_through)s::date ELSE a.closed_through END
FROM touched t WHERE a.id = t.account_id
RETURNING a.id, a.balance, a.entry_count, t.entries
"""


def post_locked_query(
    *,
    accounts: dict[int, CreditAccount],
    postings_sql: str,
    params: dict,
    close: tuple[dt.date, Sequence[int]] | None = None,
) -> int:
    """Post the entries a query computes, to accounts the caller has locked (PostgreSQL; see `accounts_lock`): a
    month close posts a chunk's ROUNDING or MCI_INVOICED entries with a few statements instead of a Posting each.
    `postings_sql` selects the BATCH_COLUMNS in that order; rows are posted in that order per account. The rules
    of `post_locked`: every row validated (the first bad one refused with `_validate`'s message, nothing written),
    a key already posted is a replay (skipped when it is the same movement, refused otherwise), running sequence
    and balance per account, the cached balances moved in the same statement, the balance hooks run. A key used
    twice in one batch is a caller bug and refused. With `close` (a month, account ids), the same UPDATE also marks
    those accounts closed through that month (the month close: one new row version per account, not one per
    statement); the batch's periods are computed as the accounts were before it. Returns how many entries were
    written."""
    now = clock.now()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS pg_temp.ledger_batch")
        cursor.execute(
            f"CREATE TEMP TABLE ledger_batch ON COMMIT DROP AS SELECT row_number() OVER () AS ord, p.* "  # noqa: S608
            f"FROM ({postings_sql}) AS p({', '.join(BATCH_COLUMNS)})",
            params,
        )
        _batch_validate(cursor, accounts)
        closed_through, closing = close or (None, ())
        cursor.execute(BATCH_INSERT, {"now": now, "closing": list(closing), "closed_through": closed_through})
        moved = [row for row in cursor.fetchall() if row[3]]
    for account_id in closing:
        accounts[account_id].closed_through = closed_through
    before = {}
    for account_id, balance, entry_count, _ in moved:
        account = accounts[account_id]
        before[account_id] = account.balance
        account.balance, account.entry_count, account.updated_at = balance, entry_count, now
    if moved:
        _after_balances_moved([accounts[row[0]] for row in moved], before)
    return sum(row[3] for row in moved)


def _batch_validate(cursor, accounts: dict[int, CreditAccount]) -> None:
    """Refuse the batch on its first row `_validate` refuses, a row for an account not locked, a key used twice,
    or a key already posted for a different movement (`_check_replay`)."""
    cursor.execute(
        """
        SELECT b.account_id, b.kind, b.amount, b.currency, b.key, b.occurred_at, b.reference, b.memo
        FROM ledger_batch b LEFT JOIN billing_creditaccount a ON a.id = b.account_id
        WHERE b.account_id <> ALL(%(locked)s) OR b.kind <> ALL(%(kinds)s) OR b.currency IS DISTINCT FROM a.currency
           OR b.amount IS NULL OR b.amount <> round(b.amount, 6) OR b.amount = 0
           OR (b.kind <> ALL(%(sub_cent)s) AND b.amount <> round(b.amount, 2))
           OR (b.kind = ANY(%(positive)s) AND b.amount < 0) OR (b.kind = ANY(%(negative)s) AND b.amount > 0)
           OR (b.kind = %(manual)s AND btrim(coalesce(b.memo, '')) = '')
           OR b.key IS NULL OR length(b.key) NOT BETWEEN 1 AND 200 OR b.occurred_at IS NULL
        ORDER BY b.ord LIMIT 1
        """,
        {
            "locked": list(accounts), "kinds": sorted(ENTRY_KINDS), "sub_cent": list(SUB_CENT_KINDS),
            "positive": list(POSITIVE_KINDS), "negative": list(NEGATIVE_KINDS), "manual": EntryKind.MANUAL_ADJUSTMENT,
        },
    )  # fmt: skip
    bad = cursor.fetchone()
    if bad is not None:
        account_id, kind, amount, currency, key, occurred_at, reference, memo = bad
        if account_id not in accounts:
            raise LedgerError(f"Credit account {account_id} is not locked by this transaction.")
        _validate(Posting(account_id, kind, Money(amount, currency), key, occurred_at, reference, memo or ""),
                  accounts[account_id])  # fmt: skip
        raise LedgerError(f"Posting {key!r} refused.")  # unreachable unless the SQL and _validate disagree
    cursor.execute("SELECT key FROM ledger_batch GROUP BY key HAVING count(*) > 1 LIMIT 1")
    twice = cursor.fetchone()
    if twice is not None:
        raise LedgerError(f"Idempotency key {twice[0]!r} is used twice in one batch.")
    cursor.execute(
        """
        SELECT e.id, b.account_id, b.kind, b.amount, b.currency, b.key, b.occurred_at FROM ledger_batch b
        JOIN billing_ledgerentry e ON e.idempotency_key = b.key
        WHERE (e.account_id, e.kind, e.amount) IS DISTINCT FROM (b.account_id, b.kind, b.amount) LIMIT 1
        """
    )
    clash = cursor.fetchone()
    if clash is not None:
        entry_id, account_id, kind, amount, currency, key, occurred_at = clash
        _check_replay(LedgerEntry.objects.get(pk=entry_id), Posting(account_id, kind, Money(amount, currency), key,
                                                                     occurred_at))  # fmt: skip
