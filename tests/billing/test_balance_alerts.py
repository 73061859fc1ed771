"""Low-balance and run-out alerts (once per crossing, from the ledger's hook, after commit) and card expiry
reminders (30 and 7 days), sent over SMTP to a real aiosmtpd server on loopback."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from djmoney.money import Money

from billing.balance_alerts import card_expiry_reminders_send
from billing.ledger import Posting, ledger_post, ledger_post_many
from billing.models import CardExpiryReminder, CreditAccount, EntryKind, PaymentMethod, PaymentMethodKind
from tests.factories import ClientFactory, HubFactory, PartnerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def hub():
    client = ClientFactory(company_name="Acme GmbH", billing_email="finance@acme.example")
    hub = HubFactory(client=client, name="Acme Main")
    ledger_post(account=hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money("100.00", "EUR"), key="funds")
    CreditAccount.objects.filter(hub=hub).update(low_balance_alert=Decimal("50.00"), auto_renew=False)
    return hub


def debit(hub, amount: str, key: str):
    return ledger_post(account=hub.credit_account, kind=EntryKind.USAGE, amount=Money(amount, "EUR"), key=key)


def low_email(hub, balance: str) -> tuple[str, str, str]:
    return (
        "finance@acme.example",
        f"Low credit balance: Acme Main is at {balance}",
        f"Hello Acme GmbH,\n\nthe credit balance of hub Acme Main ({hub.hub_id}) fell below your alert threshold of "
        f"€50.00: it is {balance} now.\nAdd funds on the Funds page of the Client Hub before it runs out: at 0.00 "
        "outbound messages are paused.\n\nHub Portal GmbH\n",
    )


def test_one_email_for_a_thousand_debits(hub, smtp, django_capture_on_commit_callbacks):
    """A thousand usage postings of 0.06 each take the balance from 100.00 to 40.00; the 834th crosses 50.00."""
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        for n in range(1000):
            with transaction.atomic():
                debit(hub, "-0.060000", key=f"usage:{n}")

    hub.credit_account.refresh_from_db()
    assert hub.credit_account.balance == Decimal("40.000000")
    assert smtp.texts() == [low_email(hub, "€49.96")]
    assert len(callbacks) == 1  # only the crossing posting queued anything


def test_a_posting_that_crosses_nothing_runs_no_extra_query(hub):
    debit(hub, "-10.00", key="first")  # 90.00: above the threshold
    with CaptureQueriesContext(connection) as plain:
        debit(hub, "-10.00", key="second")  # 80.00
    CreditAccount.objects.filter(hub=hub).update(low_balance_alert=None)
    with CaptureQueriesContext(connection) as no_alerts:
        debit(hub, "-10.00", key="third")  # 70.00

    assert len(plain) == len(no_alerts)


def test_running_out_sends_the_run_out_alert_only(hub, smtp, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        debit(hub, "-100.12", key="big")  # crosses 50.00 and 0.00 at once

    assert smtp.texts() == [(
        "finance@acme.example",
        "Credit used up: outbound messages of Acme Main are paused",
        f"Hello Acme GmbH,\n\nthe credit balance of hub Acme Main ({hub.hub_id}) is -€0.12, so its outbound messages "
        "are paused.\nAdd funds on the Funds page of the Client Hub and sending resumes automatically.\n\n"
        "Hub Portal GmbH\n",
    )]  # fmt: skip


def test_each_new_crossing_sends_again_and_a_rolled_back_one_sends_nothing(
    hub, smtp, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            debit(hub, "-50.02", key="rolled-back")
            raise RuntimeError("the batch failed after posting")
        debit(hub, "-50.02", key="down")  # 49.98: one email
        debit(hub, "-1.00", key="further")  # 48.98: still below, nothing
        up = Posting(account_id=hub.credit_account.id, kind=EntryKind.FUNDS_ADDED, amount=Money("20.00", "EUR"),
                     key="up", occurred_at=dt.datetime.now(dt.UTC))
        ledger_post_many(postings=[up])
        debit(hub, "-20.00", key="down-again")  # 48.98 again: a new crossing

    assert smtp.texts() == [low_email(hub, "€49.98"), low_email(hub, "€48.98")]


def test_run_out_alert_can_be_turned_off(hub, smtp, django_capture_on_commit_callbacks):
    CreditAccount.objects.filter(hub=hub).update(run_out_alert=False, low_balance_alert=None)
    with django_capture_on_commit_callbacks(execute=True):
        debit(hub, "-100.00", key="all")

    assert smtp.texts() == []


# Cards about to expire ---------------------------------------------------------------------------------------------


def card_of(party, *, month: int, year: int, last4: str = "4242") -> PaymentMethod:
    owner = {"partner": party} if hasattr(party, "plan") else {"client": party}
    return PaymentMethod.objects.create(**owner, kind=PaymentMethodKind.CARD, brand="visa", last4=last4,
                                        exp_month=month, exp_year=year)  # fmt: skip


def test_a_card_is_reminded_30_then_7_days_before_it_expires(smtp):
    client = ClientFactory(company_name="Acme GmbH", billing_email="finance@acme.example")
    card_of(client, month=12, year=2026)  # valid through 31 Dec 2026
    card_of(client, month=6, year=2027, last4="5555")  # not yet

    runs = {}
    for day in (dt.date(2026, 11, 30), dt.date(2026, 12, 1), dt.date(2026, 12, 2), dt.date(2026, 12, 24),
                dt.date(2026, 12, 25)):  # fmt: skip
        with time_machine.travel(dt.datetime.combine(day, dt.time(7), tzinfo=dt.UTC), tick=False):
            runs[day.day] = card_expiry_reminders_send()

    assert runs == {30: 0, 1: 1, 2: 0, 24: 1, 25: 0}
    body = ("Hello Acme GmbH,\n\nyour saved card Visa •••• 4242 expires on 31 Dec 2026. Invoices and automatic top-ups "
            "are charged to it; once it has expired, charges fail and services may be paused.\nAdd a new card under "
            "Payment methods in the Client Hub.\n\nHub Portal GmbH\n")  # fmt: skip
    subject = "Your card Visa •••• 4242 expires on 31 Dec 2026"
    assert smtp.texts() == [("finance@acme.example", subject, body)] * 2
    assert sorted(CardExpiryReminder.objects.values_list("days_before", flat=True)) == [7, 30]


def test_a_card_first_seen_a_few_days_before_expiry_gets_only_the_7_day_reminder(smtp):
    partner = PartnerFactory(name="Vermittler")
    card_of(partner, month=12, year=2026)

    with time_machine.travel(dt.datetime(2026, 12, 27, 7, tzinfo=dt.UTC), tick=False):
        assert card_expiry_reminders_send() == 1
        assert card_expiry_reminders_send() == 0

    assert [(to, subject) for to, subject, _ in smtp.texts()] == [
        ("billing@vermittler.example", "Your card Visa •••• 4242 expires on 31 Dec 2026")
    ]
    assert smtp.texts()[0][2].endswith("Add a new card under Payment methods in the Partner Hub.\n\n"
                                                   "Hub Portal GmbH\n")  # fmt: skip


def test_a_german_clients_low_balance_email_is_in_german(smtp, django_capture_on_commit_callbacks):
    """The alert follows the client's invoice language (not the active one), with German amounts."""
    client = ClientFactory(company_name="Acme GmbH", billing_email="finance@acme.example", invoice_language="de")
    hub = HubFactory(client=client, name="Acme Main")
    ledger_post(account=hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money("1100.00", "EUR"), key="funds")
    CreditAccount.objects.filter(hub=hub).update(low_balance_alert=Decimal("1000.00"), auto_renew=False)
    with django_capture_on_commit_callbacks(execute=True):
        debit(hub, "-100.50", key="usage:1")

    assert smtp.texts() == [(
        "finance@acme.example",
        "Niedriges Guthaben: Acme Main steht bei €999,50",
        f"Guten Tag Acme GmbH,\n\ndas Guthaben des Hubs Acme Main ({hub.hub_id}) ist unter Ihren Warnschwellenwert von "
        "€1.000,00 gefallen: Es beträgt jetzt €999,50.\nLaden Sie auf der Seite „Guthaben“ des Client Hub Guthaben "
        "auf, bevor es aufgebraucht ist: Bei 0,00 werden ausgehende Nachrichten pausiert.\n\nHub Portal GmbH\n",
    )]


def test_a_german_partners_card_reminder_is_in_german(smtp):
    partner = PartnerFactory(name="Vermittler", invoice_language="de")
    card_of(partner, month=12, year=2026)

    with time_machine.travel(dt.datetime(2026, 12, 27, 7, tzinfo=dt.UTC), tick=False):
        assert card_expiry_reminders_send() == 1

    [(to, subject, body)] = smtp.texts()
    assert subject == "Ihre Karte Visa •••• 4242 läuft am 31. Dezember 2026 ab"
    assert body.endswith("Fügen Sie im Partner Hub unter Zahlungsmethoden eine neue Karte hinzu.\n\nHub Portal GmbH\n")
