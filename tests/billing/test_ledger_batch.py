"""The ledger's set-based posting (`post_locked_query`, PostgreSQL): what a month close posts a chunk at a time.
Same rules as one Posting at a time: running sequence and balance, replays skipped, bad rows refused with nothing
written; and the database's statement-level guards refuse a foreign currency however rows are inserted."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from djmoney.money import Money

from billing.audit import ledger_audit
from billing.ledger import LedgerError, accounts_lock, ledger_post, post_locked_query
from billing.models import CreditAccount, EntryKind, LedgerEntry
from billing.sql import copy_rows
from tests.factories import HubFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

NOV_3 = dt.datetime(2026, 11, 3, 10, 15, tzinfo=dt.UTC)
BATCH = """
SELECT a.id, %(kind)s, %(amount)s::numeric, %(currency)s, 'batch:' || a.id, %(at)s::timestamptz, 'ref', %(memo)s
FROM billing_creditaccount a WHERE a.id = ANY(%(ids)s) ORDER BY a.id
"""


def post_batch(accounts, *, kind=EntryKind.FUNDS_ADDED, amount="2.50", currency="EUR", memo="") -> int:
    with transaction.atomic():
        locked = accounts_lock(a.id for a in accounts)
        return post_locked_query(
            accounts=locked,
            postings_sql=BATCH,
            params={"kind": kind, "amount": amount, "currency": currency, "at": NOV_3, "memo": memo,
                    "ids": [a.id for a in accounts]},
        )  # fmt: skip


@pytest.fixture
def accounts():
    return [HubFactory().credit_account for _ in range(3)]


def test_a_batch_continues_each_accounts_sequence_and_running_balance(accounts):
    ledger_post(
        account=accounts[0], kind=EntryKind.FUNDS_ADDED, amount=Money("1.00", "EUR"), key="k", occurred_at=NOV_3
    )

    assert post_batch(accounts) == 3

    first = LedgerEntry.objects.get(idempotency_key=f"batch:{accounts[0].id}")
    assert (first.sequence, first.balance_after, first.period) == (2, Decimal("3.50"), dt.date(2026, 11, 1))
    assert CreditAccount.objects.get(pk=accounts[1].pk).balance == Decimal("2.50")
    assert ledger_audit() == []


def test_a_replayed_batch_posts_nothing(accounts):
    post_batch(accounts)

    assert post_batch(accounts) == 0
    assert LedgerEntry.objects.count() == 3


def test_a_replayed_key_for_another_amount_is_refused(accounts):
    post_batch(accounts)

    with pytest.raises(LedgerError, match="was already used for FUNDS_ADDED 2.500000 EUR"):
        post_batch(accounts, amount="3.00")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"currency": "USD"}, "is in EUR, the amount is in USD"),
        ({"amount": "-1.00"}, "FUNDS_ADDED entries must be positive, got -1.00"),
        ({"amount": "1.005"}, "FUNDS_ADDED entries are whole cents, got 1.005"),
        ({"kind": EntryKind.MANUAL_ADJUSTMENT}, "A manual adjustment needs a reason."),
        ({"kind": "GIFT"}, "Unknown entry kind 'GIFT'."),
    ],
)
def test_a_bad_row_refuses_the_whole_batch_and_writes_nothing(accounts, fields, message):
    with pytest.raises(LedgerError, match=message):
        post_batch(accounts, **fields)

    assert LedgerEntry.objects.count() == 0
    assert set(CreditAccount.objects.values_list("balance", flat=True)) == {Decimal(0)}


def test_the_database_refuses_a_foreign_currency_entry_written_with_copy(accounts):
    account = accounts[0]
    columns = ("account_id", "kind", "amount", "currency", "sequence", "balance_after", "period", "occurred_at",
               "posted_at", "idempotency_key", "reference", "memo")  # fmt: skip
    good = (
        account.id,
        "FUNDS_ADDED",
        Decimal(5),
        "EUR",
        1,
        Decimal(5),
        dt.date(2026, 11, 1),
        NOV_3,
        NOV_3,
        "a",
        "",
        "",
    )
    bad = (
        account.id,
        "FUNDS_ADDED",
        Decimal(5),
        "USD",
        2,
        Decimal(10),
        dt.date(2026, 11, 1),
        NOV_3,
        NOV_3,
        "b",
        "",
        "",
    )

    with pytest.raises(Exception, match="ledger entry currency USD differs"), transaction.atomic():
        copy_rows(LedgerEntry, columns, [good, bad])

    assert LedgerEntry.objects.count() == 0


def test_a_batch_can_close_a_month_in_the_same_update_of_the_accounts(accounts):
    """`close`: every listed account is marked closed through the month, with or without an entry in the batch;
    the batch's own periods are those of the accounts before it; an account only closed keeps its balance and
    updated_at; one outside the list is untouched."""
    october = dt.date(2026, 10, 1)
    before = {a.id: CreditAccount.objects.get(pk=a.pk).updated_at for a in accounts}
    with transaction.atomic():
        locked = accounts_lock(a.id for a in accounts)
        written = post_locked_query(
            accounts=locked,
            postings_sql=BATCH,
            params={"kind": EntryKind.FUNDS_ADDED, "amount": "2.50", "currency": "EUR",
                    "at": dt.datetime(2026, 10, 31, 23, tzinfo=dt.UTC), "memo": "", "ids": [accounts[0].id]},
            close=(october, [accounts[0].id, accounts[1].id]),
        )  # fmt: skip
        assert [locked[a.id].closed_through for a in accounts] == [october, october, None]

    assert written == 1
    assert LedgerEntry.objects.get(idempotency_key=f"batch:{accounts[0].id}").period == october
    closed = {a.id: a for a in CreditAccount.objects.filter(pk__in=[a.id for a in accounts])}
    assert [closed[a.id].closed_through for a in accounts] == [october, october, None]
    assert [closed[a.id].balance for a in accounts] == [Decimal("2.50"), Decimal(0), Decimal(0)]
    assert closed[accounts[1].id].updated_at == before[accounts[1].id]
    assert closed[accounts[1].id].entry_count == 0
    assert ledger_audit() == []
