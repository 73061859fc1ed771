"""Many writers on one account at once, on PostgreSQL with real row locks: the balance ends exact and no
idempotency key or message is posted twice."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from djmoney.money import Money

from billing.audit import ledger_audit
from billing.ledger import ledger_post
from billing.models import CreditAccount, EntryKind, LedgerEntry, MessageUsage, RateCardRate
from billing.usage.ingest import usage_record_batch
from tests.concurrency import run_concurrently
from tests.factories import PhoneNumberFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8
ROUNDS = 40
RATE = Decimal("0.123457")


def test_concurrent_debits_and_credits_with_repeated_keys_end_exact():
    RateCardRate.objects.create(
        effective_date=dt.date(2026, 1, 1), currency="EUR", market="DE", category="marketing", rate=RATE
    )
    number = PhoneNumberFactory()
    account = number.waba.hub.credit_account
    now = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)

    def work(worker: int) -> None:
        with time_machine.travel(now, tick=False):
            for n in range(ROUNDS):
                # Every worker posts the same keys and message ids, in a different order.
                i = (n + worker * 7) % ROUNDS
                ledger_post(
                    account=CreditAccount.objects.get(pk=account.pk),
                    kind=EntryKind.FUNDS_ADDED,
                    amount=Money("1.50", "EUR"),
                    key=f"payment:{i}",
                    occurred_at=now,
                )
                usage_record_batch(
                    events=[
                        {
                            "message_id": f"wamid.{i}.{part}",
                            "waba_id": number.waba.meta_waba_id,
                            "phone_number": number.e164,
                            "recipient_country": "DE",
                            "category": "marketing",
                            "billable": True,
                            "timestamp": "2026-11-03T10:15:00Z",
                        }
                        for part in range(3)
                    ]
                )

    errors = run_concurrently(work, THREADS)

    assert errors == []
    account.refresh_from_db()
    assert account.balance == ROUNDS * Decimal("1.50") - ROUNDS * 3 * RATE
    assert LedgerEntry.objects.filter(kind=EntryKind.FUNDS_ADDED).count() == ROUNDS
    assert MessageUsage.objects.count() == ROUNDS * 3
    assert ledger_audit() == []
