"""Which billing month usage counts in when a month is closed while a batch is being recorded (PostgreSQL's
lock-late path in hub/usage.py reads `closed_through` before it locks the accounts)."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
import time_machine
from django.db import connection

from billing import ledger
from billing.models import CreditAccount, EntryKind, LedgerEntry, MessageUsage, RateCardRate
from billing.usage import ingest as ingestion
from tests.factories import PhoneNumberFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

RATE = Decimal("0.120000")
OCTOBER, NOVEMBER = dt.date(2026, 10, 1), dt.date(2026, 11, 1)


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC), tick=False):
        yield


@pytest.fixture
def number():
    RateCardRate.objects.create(
        effective_date=dt.date(2026, 7, 1), currency="EUR", market="DE", category="marketing", rate=RATE
    )
    return PhoneNumberFactory(e164="+4915112345678")


def late_october_event(number) -> dict:
    return {
        "message_id": "wamid.late",
        "waba_id": number.waba.meta_waba_id,
        "phone_number": number.e164,
        "recipient_country": "DE",
        "category": "marketing",
        "billable": True,
        "timestamp": "2026-10-20T10:00:00Z",
    }


def close_october_elsewhere(hub) -> None:
    """Close October as the Month Closing Invoice would: in another connection, committed, while the batch's
    transaction is open. (An update in the batch's own transaction would be undone with it when the batch
    retries, so the retry would see October open again.)"""

    def close() -> None:
        try:
            CreditAccount.objects.filter(hub=hub).update(closed_through=OCTOBER)
        finally:
            connection.close()

    thread = threading.Thread(target=close)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()


@pytest.mark.django_db(transaction=True)  # the month is closed from another connection
def test_a_month_closed_between_reading_and_locking_rolls_the_cost_into_the_next_month(number, monkeypatch):
    hub = number.waba.hub
    original, calls = ledger.accounts_lock, []

    def lock_after_october_closes(account_ids):
        calls.append(sorted(account_ids))
        if len(calls) == 1:
            close_october_elsewhere(hub)
        return original(account_ids)

    monkeypatch.setattr(ledger, "accounts_lock", lock_after_october_closes)

    result = ingestion.usage_record_batch(events=[late_october_event(number)])

    account = CreditAccount.objects.get(hub=hub)
    assert calls == [[account.pk], [account.pk]]  # the first attempt saw October close and the batch ran again
    assert (result.accepted, result.duplicates, result.rejected) == (1, 0, [])
    assert result.debited == {hub.hub_id: RATE}
    usage = MessageUsage.objects.get()
    entry = LedgerEntry.objects.get()
    assert (usage.period, entry.period) == (NOVEMBER, NOVEMBER)
    assert (entry.kind, entry.amount, entry.sequence) == (EntryKind.USAGE, -RATE, 1)
    assert usage.ledger_entry_id == entry.pk
    assert (account.balance, account.entry_count, account.closed_through) == (-RATE, 1, OCTOBER)


def test_without_a_month_closing_meanwhile_late_usage_counts_in_its_own_month(number, monkeypatch):
    original, calls = ledger.accounts_lock, []

    def counting_lock(account_ids):
        calls.append(sorted(account_ids))
        return original(account_ids)

    monkeypatch.setattr(ledger, "accounts_lock", counting_lock)

    result = ingestion.usage_record_batch(events=[late_october_event(number)])

    account = CreditAccount.objects.get(hub=number.waba.hub)
    assert calls == [[account.pk]]
    assert result.accepted == 1
    usage = MessageUsage.objects.get()
    entry = LedgerEntry.objects.get()
    assert (usage.period, entry.period) == (OCTOBER, OCTOBER)
    assert (entry.kind, entry.amount) == (EntryKind.USAGE, -RATE)
    assert (account.balance, account.closed_through) == (-RATE, None)
