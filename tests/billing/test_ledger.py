import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from djmoney.money import Money

from billing.ledger import LedgerError, Posting, ledger_post, ledger_post_many
from billing.models import CreditAccount, EntryKind, LedgerEntry
from tests.factories import HubFactory

pytestmark = pytest.mark.django_db

NOV_3 = dt.datetime(2026, 11, 3, 10, 15, tzinfo=dt.UTC)


@pytest.fixture
def account():
    return HubFactory().credit_account


def test_posting_moves_the_cached_balance_and_records_the_running_balance(account):
    ledger_post(account=account, kind=EntryKind.FUNDS_ADDED, amount=Money("50.00", "EUR"), key="f1", occurred_at=NOV_3)
    entry = ledger_post(
        account=account, kind=EntryKind.USAGE, amount=Money("-0.136500", "EUR"), key="u1", occurred_at=NOV_3
    )

    account.refresh_from_db()
    assert account.balance == Decimal("49.863500")
    assert entry.balance_after == Decimal("49.863500")
    assert entry.period == dt.date(2026, 11, 1)
    assert entry.currency == "EUR"


def test_a_replayed_key_returns_the_first_entry_and_posts_nothing(account):
    first = ledger_post(
        account=account, kind=EntryKind.FUNDS_ADDED, amount=Money("50", "EUR"), key="pay:1", occurred_at=NOV_3
    )
    again = ledger_post(
        account=account, kind=EntryKind.FUNDS_ADDED, amount=Money("50", "EUR"), key="pay:1", occurred_at=NOV_3
    )

    account.refresh_from_db()
    assert again.pk == first.pk
    assert account.balance == Decimal("50")
    assert LedgerEntry.objects.count() == 1


def test_the_same_key_for_a_different_movement_is_refused(account):
    ledger_post(account=account, kind=EntryKind.FUNDS_ADDED, amount=Money("50", "EUR"), key="pay:1", occurred_at=NOV_3)

    with pytest.raises(LedgerError, match="'pay:1' was already used for FUNDS_ADDED 50.000000 EUR"):
        ledger_post(
            account=account,
            kind=EntryKind.FUNDS_ADDED,
            amount=Money("60", "EUR"),
            key="pay:1",
            occurred_at=NOV_3,
        )


def test_a_foreign_currency_is_refused_and_nothing_is_written(account):
    with pytest.raises(LedgerError, match=f"hub {account.hub.hub_id} is in EUR, the amount is in USD"):
        ledger_post(account=account, kind=EntryKind.FUNDS_ADDED, amount=Money("50", "USD"), key="k", occurred_at=NOV_3)

    account.refresh_from_db()
    assert account.balance == 0
    assert not LedgerEntry.objects.exists()


@pytest.mark.parametrize(
    ("kind", "amount", "message"),
    [
        (EntryKind.FUNDS_ADDED, "0", "cannot be zero"),
        (EntryKind.FUNDS_ADDED, "-5", "FUNDS_ADDED entries must be positive"),
        (EntryKind.USAGE, "5", "USAGE entries must be negative"),
        (EntryKind.FUNDS_RETURNED, "5", "FUNDS_RETURNED entries must be negative"),
        (EntryKind.MCI_INVOICED, "-5", "MCI_INVOICED entries must be positive"),
        (EntryKind.USAGE, "-0.0000001", "more than 6 decimal places"),
        (EntryKind.MANUAL_ADJUSTMENT, "5", "needs a reason"),
        ("BONUS", "5", "Unknown entry kind 'BONUS'"),
    ],
)
def test_malformed_postings_are_refused(account, kind, amount, message):
    with pytest.raises(LedgerError, match=message):
        ledger_post(account=account, kind=kind, amount=Money(amount, "EUR"), key="k", occurred_at=NOV_3)
    assert not LedgerEntry.objects.exists()


def test_a_bare_number_is_not_money(account):
    with pytest.raises(LedgerError, match="must be Money"):
        ledger_post(account=account, kind=EntryKind.FUNDS_ADDED, amount=Decimal(5), key="k", occurred_at=NOV_3)


def test_a_batch_with_one_bad_posting_writes_nothing(account):
    postings = [
        Posting(
            account_id=account.id,
            kind=EntryKind.FUNDS_ADDED,
            amount=Money("5", "EUR"),
            key="a",
            occurred_at=NOV_3,
        ),
        Posting(account_id=account.id, kind=EntryKind.USAGE, amount=Money("5", "EUR"), key="b", occurred_at=NOV_3),
    ]
    with pytest.raises(LedgerError):
        ledger_post_many(postings=postings)
    assert not LedgerEntry.objects.exists()


def test_entries_after_a_closed_month_roll_into_the_next_open_month(account):
    CreditAccount.objects.filter(pk=account.pk).update(closed_through=dt.date(2026, 10, 1))
    account.refresh_from_db()

    late = ledger_post(
        account=account,
        kind=EntryKind.USAGE,
        amount=Money("-1", "EUR"),
        key="late",
        occurred_at=dt.datetime(2026, 10, 30, tzinfo=dt.UTC),
    )
    current = ledger_post(
        account=account,
        kind=EntryKind.USAGE,
        amount=Money("-1", "EUR"),
        key="now",
        occurred_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
    )

    assert late.period == dt.date(2026, 11, 1)
    assert late.occurred_at.month == 10
    assert current.period == dt.date(2026, 11, 1)


class TestDatabaseGuards:
    """What the database itself refuses, whatever code runs against it."""

    def test_entries_cannot_be_updated(self, account):
        entry = ledger_post(
            account=account, kind=EntryKind.FUNDS_ADDED, amount=Money("5", "EUR"), key="k", occurred_at=NOV_3
        )
        with pytest.raises(Exception, match="immutable"), transaction.atomic():
            LedgerEntry.objects.filter(pk=entry.pk).update(amount=Decimal("500"))

    def test_entries_cannot_be_deleted(self, account):
        ledger_post(account=account, kind=EntryKind.FUNDS_ADDED, amount=Money("5", "EUR"), key="k", occurred_at=NOV_3)
        with pytest.raises(Exception, match="immutable"), transaction.atomic():
            LedgerEntry.objects.all()._raw_delete(connection.alias)

    def test_an_entry_in_a_foreign_currency_cannot_be_inserted(self, account):
        with pytest.raises(Exception, match="currency"), transaction.atomic():
            LedgerEntry.objects.create(
                account=account,
                kind=EntryKind.FUNDS_ADDED,
                amount=Decimal(5),
                currency="USD",
                sequence=1,  # a complete row: only its currency is wrong
                balance_after=5,
                period=dt.date(2026, 11, 1),
                occurred_at=NOV_3,
                posted_at=NOV_3,
                idempotency_key="x",
            )

    def test_a_zero_entry_cannot_be_inserted(self, account):
        with pytest.raises(IntegrityError), transaction.atomic():
            LedgerEntry.objects.create(
                account=account,
                kind=EntryKind.RECONCILIATION,
                amount=Decimal(0),
                currency="EUR",
                balance_after=0,
                period=dt.date(2026, 11, 1),
                occurred_at=NOV_3,
                posted_at=NOV_3,
                idempotency_key="x",
            )

    def test_a_duplicate_key_cannot_be_inserted(self, account):
        ledger_post(account=account, kind=EntryKind.FUNDS_ADDED, amount=Money("5", "EUR"), key="k", occurred_at=NOV_3)
        with pytest.raises(IntegrityError), transaction.atomic():
            LedgerEntry.objects.create(
                account=account,
                kind=EntryKind.FUNDS_ADDED,
                amount=Decimal(5),
                currency="EUR",
                balance_after=10,
                period=dt.date(2026, 11, 1),
                occurred_at=NOV_3,
                posted_at=NOV_3,
                idempotency_key="k",
            )

    def test_an_account_currency_cannot_change(self, account):
        with pytest.raises(Exception, match="fixed"), transaction.atomic():
            CreditAccount.objects.filter(pk=account.pk).update(currency="USD")
