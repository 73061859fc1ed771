"""Prepayment Invoices, and what happens to an issued invoice: paid, failed, voided, credited."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from billing.audit import ledger_audit
from billing.invoicing import issue as issuing
from billing.invoicing.licenses import license_issue
from billing.invoicing.month_close import month_close
from billing.invoicing.prepayments import PrepaymentError, monthly_prepayment_issue, topup_issue
from billing.invoicing.settlement import (
    InvoiceStateError,
    credit_note_issue,
    invoice_mark_paid,
    invoice_mark_unpaid,
    invoice_void,
)
from billing.models import (
    CreditAccount,
    CreditNote,
    EntryKind,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    LedgerEntry,
    PaymentMethod,
    PaymentMethodKind,
    RateCardRate,
)
from billing.usage.ingest import usage_record_batch
from hub.models import LicenseTier
from tests.concurrency import run_concurrently
from tests.factories import ClientFactory, HubFactory, PhoneNumberFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 10, 9, 30, tzinfo=dt.UTC)


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def hub():
    return HubFactory(client=ClientFactory(country="DE"))


def balance(hub) -> Decimal:
    return CreditAccount.objects.get(hub=hub).balance


def lines(invoice: Invoice) -> list[tuple[str, str, Decimal]]:
    return list(invoice.lines.order_by("position").values_list("role", "description", "amount"))


def pending_mci():
    """A hub closed for October with 100 messages at 0.123457 and no credit: D = 12.35, total 14.70."""
    RateCardRate.objects.create(
        effective_date=dt.date(2026, 1, 1), currency="EUR", market="DE", category="marketing", rate="0.123457"
    )
    number = PhoneNumberFactory(e164="+4915112345678")
    usage_record_batch(
        events=[
            {
                "message_id": f"wamid.{n}",
                "waba_id": number.waba.meta_waba_id,
                "phone_number": number.e164,
                "recipient_country": "DE",
                "category": "marketing",
                "billable": True,
                "timestamp": "2026-10-14T12:00:00Z",
            }
            for n in range(100)
        ]
    )
    (invoice,) = month_close(hub_ids=[number.waba.hub_id], period=dt.date(2026, 10, 1), issued_at=utc(2026, 11, 1))
    return invoice


# --- Top-ups ----------------------------------------------------------------------------------------------------------


def test_a_topup_is_a_prepayment_invoice_and_adds_nothing_until_paid(hub):
    invoice = topup_issue(hub=hub, amount=Decimal("100.00"), request_key="req-1")

    assert invoice.kind == InvoiceKind.PREPAYMENT
    assert (invoice.number, invoice.status, invoice.issued_at) == ("INV-2026-000001", InvoiceStatus.PENDING, NOW)
    assert (invoice.period_key, invoice.period_start, invoice.period_end) == (
        "topup:req-1",
        dt.date(2026, 11, 10),
        dt.date(2026, 11, 11),
    )
    assert lines(invoice) == [
        ("charge", "Funds added to Credit Balance", Decimal("100.00")),
        ("tax", "VAT 19%", Decimal("19.00")),
    ]
    assert invoice.total == Decimal("119.00")
    assert not LedgerEntry.objects.exists()
    assert balance(hub) == Decimal("0")


def test_paying_a_topup_adds_its_net_amount_not_the_fee_or_tax_to_the_credit_balance(hub):
    # given a card payer's top-up of 100.00: 4.00 fee, 19% of 104.00 = 19.76 VAT
    PaymentMethod.objects.create(client=hub.client, kind=PaymentMethodKind.CARD, position=0)
    invoice = topup_issue(hub=hub, amount=Decimal("100.00"), request_key="req-1")
    assert (invoice.fee_amount, invoice.tax_amount, invoice.total) == (
        Decimal("4.00"),
        Decimal("19.76"),
        Decimal("123.76"),
    )

    # when it is paid
    paid_at = utc(2026, 11, 10, 9, 45)
    paid = invoice_mark_paid(invoice=invoice, paid_at=paid_at, reference="pi_123")

    # then the funds (100.00) reach the balance, keyed by the invoice number
    assert (paid.status, paid.paid_at) == (InvoiceStatus.PAID, paid_at)
    entry = LedgerEntry.objects.get()
    assert (entry.kind, entry.amount, entry.idempotency_key) == (
        EntryKind.FUNDS_ADDED,
        Decimal("100.00"),
        "funds:INV-2026-000001",
    )
    assert (entry.occurred_at, entry.period, entry.reference) == (paid_at, dt.date(2026, 11, 1), "pi_123")
    assert balance(hub) == Decimal("100.00")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.paid_at) == (InvoiceStatus.PAID, paid_at)
    assert ledger_audit() == []


def test_paying_twice_changes_nothing(hub):
    invoice = topup_issue(hub=hub, amount=Decimal("50.00"), request_key="req-1")
    invoice_mark_paid(invoice=invoice, paid_at=utc(2026, 11, 10, 10))

    again = invoice_mark_paid(invoice=invoice, paid_at=utc(2026, 11, 11, 10))

    assert (again.status, again.paid_at) == (InvoiceStatus.PAID, utc(2026, 11, 10, 10))
    assert LedgerEntry.objects.count() == 1
    assert balance(hub) == Decimal("50.00")


def test_the_same_request_key_returns_the_same_invoice(hub):
    first = topup_issue(hub=hub, amount=Decimal("50.00"), request_key="double-click")

    again = topup_issue(hub=hub, amount=Decimal("50.00"), request_key="double-click")
    other = topup_issue(hub=hub, amount=Decimal("50.00"), request_key="another")

    assert again.pk == first.pk
    assert other.pk != first.pk
    assert Invoice.objects.count() == 2
    assert other.number == "INV-2026-000002"


def test_long_request_keys_that_differ_only_at_the_end_are_different_topups(hub):
    # given a request key longer than fits the invoice's period key
    prefix = "checkout-session-2026-11-10T09:30:0"  # 35 characters
    first = topup_issue(hub=hub, amount=Decimal("10.00"), request_key=prefix + "1")

    # when another request's key differs only in its last character, and is then repeated
    second = topup_issue(hub=hub, amount=Decimal("500.00"), request_key=prefix + "2")
    repeated = topup_issue(hub=hub, amount=Decimal("500.00"), request_key=prefix + "2")

    # then it is a top-up of its own, and its repetition returns it
    assert second.pk != first.pk
    assert (first.net_amount, second.net_amount) == (Decimal("10.00"), Decimal("500.00"))
    assert repeated.pk == second.pk
    assert Invoice.objects.count() == 2


@pytest.mark.parametrize("amount", ["9.99", "10000.01", "10.001", "0", "-20.00", "0.005"])
def test_a_topup_out_of_range_or_in_fractions_of_a_cent_is_refused(hub, amount):
    with pytest.raises(PrepaymentError) as refused:
        topup_issue(hub=hub, amount=Decimal(amount), request_key="req-1")

    assert str(refused.value) == f"A top-up is between 10.00 and 10000.00 EUR, in whole cents; got {amount}."
    assert not Invoice.objects.exists()


@pytest.mark.parametrize("amount", ["10.00", "10000.00"])
def test_the_topup_limits_themselves_are_accepted(hub, amount):
    invoice = topup_issue(hub=hub, amount=Decimal(amount), request_key="req-1")

    assert invoice.net_amount == Decimal(amount)


# --- Failed payment, void ---------------------------------------------------------------------------------------------


def test_a_failed_automatic_payment_makes_a_pending_invoice_unpaid_and_it_can_still_be_paid(hub):
    invoice = topup_issue(hub=hub, amount=Decimal("50.00"), request_key="req-1")

    failed = invoice_mark_unpaid(invoice=invoice)
    assert failed.status == InvoiceStatus.UNPAID
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.UNPAID
    # failing again is harmless
    assert invoice_mark_unpaid(invoice=invoice).status == InvoiceStatus.UNPAID

    paid = invoice_mark_paid(invoice=invoice, paid_at=utc(2026, 11, 12, 8))
    assert paid.status == InvoiceStatus.PAID
    assert balance(hub) == Decimal("50.00")


def test_a_paid_invoice_cannot_fail(hub):
    invoice = topup_issue(hub=hub, amount=Decimal("50.00"), request_key="req-1")
    invoice_mark_paid(invoice=invoice)

    with pytest.raises(InvoiceStateError) as refused:
        invoice_mark_unpaid(invoice=invoice)

    assert str(refused.value) == "Invoice INV-2026-000001 is paid; only a pending one can fail."


def test_voiding_a_pending_mci_gives_its_debt_back_to_the_credit_balance():
    # given October's MCI: D = 12.35 moved from the balance to the invoice
    invoice = pending_mci()
    hub = invoice.hub
    assert (invoice.net_amount, invoice.status) == (Decimal("12.35"), InvoiceStatus.PENDING)
    assert balance(hub) == Decimal("0.00")
    staff = UserFactory()

    # when staff void it
    voided = invoice_void(invoice=invoice, reason="Duplicate WABA billing", user_id=staff.id)

    # then the invoice is void and the debt is back on the balance as a manual adjustment
    assert (voided.status, voided.voided_at, voided.void_reason) == (
        InvoiceStatus.VOID,
        NOW,
        "Duplicate WABA billing",
    )
    invoice.refresh_from_db()
    assert (invoice.status, invoice.voided_at) == (InvoiceStatus.VOID, NOW)
    adjustment = LedgerEntry.objects.get(kind=EntryKind.MANUAL_ADJUSTMENT)
    assert adjustment.amount == Decimal("-12.35")
    assert adjustment.idempotency_key == "void:INV-2026-000001"
    assert adjustment.memo == "Month Closing Invoice INV-2026-000001 voided: Duplicate WABA billing"
    assert adjustment.created_by_id == staff.id
    assert adjustment.period == dt.date(2026, 11, 1)
    assert balance(hub) == Decimal("-12.35")
    assert ledger_audit() == []


def test_voiding_a_license_invoice_posts_nothing(hub):
    PhoneNumberFactory(waba__hub=hub, e164="+4915110000001")
    (invoice,) = license_issue(hub_ids=[hub.id], month=dt.date(2026, 11, 1), issued_at=utc(2026, 11, 1))

    voided = invoice_void(invoice=invoice, reason="Number never went live")

    assert voided.status == InvoiceStatus.VOID
    assert not LedgerEntry.objects.exists()


def test_voiding_a_paid_invoice_is_refused(hub):
    invoice = topup_issue(hub=hub, amount=Decimal("50.00"), request_key="req-1")
    invoice_mark_paid(invoice=invoice)

    with pytest.raises(InvoiceStateError) as refused:
        invoice_void(invoice=invoice, reason="Customer changed their mind")

    assert str(refused.value) == "Invoice INV-2026-000001 is paid; a paid invoice is corrected by a credit note."
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID


def test_voiding_needs_a_reason(hub):
    invoice = topup_issue(hub=hub, amount=Decimal("50.00"), request_key="req-1")

    with pytest.raises(InvoiceStateError) as refused:
        invoice_void(invoice=invoice, reason="  ")

    assert str(refused.value) == "Voiding an invoice needs a reason."
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING


def test_a_void_invoice_cannot_be_paid_or_voided_again(hub):
    invoice = topup_issue(hub=hub, amount=Decimal("50.00"), request_key="req-1")
    invoice_void(invoice=invoice, reason="Wrong amount")

    with pytest.raises(InvoiceStateError) as paying:
        invoice_mark_paid(invoice=invoice)
    with pytest.raises(InvoiceStateError) as voiding:
        invoice_void(invoice=invoice, reason="Again")

    assert str(paying.value) == "Invoice INV-2026-000001 is void; only pending or unpaid can be paid."
    assert str(voiding.value) == "Invoice INV-2026-000001 is void; a paid invoice is corrected by a credit note."
    assert not LedgerEntry.objects.exists()


# --- Credit notes -----------------------------------------------------------------------------------------------------


@pytest.fixture
def license_invoice(hub):
    """A License Invoice of 74.00 + 14.06 VAT = 88.06."""
    PhoneNumberFactory(waba__hub=hub, e164="+4915110000001", tier=LicenseTier.objects.get(code="regular"))
    PhoneNumberFactory(waba__hub=hub, e164="+4915110000002", tier=LicenseTier.objects.get(code="premium"))
    (invoice,) = license_issue(hub_ids=[hub.id], month=dt.date(2026, 11, 1), issued_at=utc(2026, 11, 1))
    return invoice


def test_credit_notes_may_add_up_to_the_invoice_total_and_no_more(license_invoice):
    assert license_invoice.total == Decimal("88.06")
    staff = UserFactory()

    first = credit_note_issue(invoice=license_invoice, amount=Decimal("50.00"), reason="Number down", user_id=staff.id)
    with pytest.raises(InvoiceStateError) as too_much:
        credit_note_issue(invoice=license_invoice, amount=Decimal("38.07"), reason="Rest")
    rest = credit_note_issue(invoice=license_invoice, amount=Decimal("38.06"), reason="Rest")
    with pytest.raises(InvoiceStateError) as nothing_left:
        credit_note_issue(invoice=license_invoice, amount=Decimal("0.01"), reason="One more")

    assert str(too_much.value) == (
        "Invoice INV-2026-000001 totals 88.06; 50.00 is already credited, so at most 38.06 can be."
    )
    assert str(nothing_left.value) == (
        "Invoice INV-2026-000001 totals 88.06; 88.06 is already credited, so at most 0.00 can be."
    )
    assert (first.number, first.amount, first.currency, first.reason) == (
        "CN-2026-000001",
        Decimal("50.00"),
        "EUR",
        "Number down",
    )
    assert (first.invoice_id, first.issued_at, first.created_by_id) == (license_invoice.id, NOW, staff.id)
    assert rest.number == "CN-2026-000002"
    assert CreditNote.objects.count() == 2


def test_a_single_credit_note_above_the_total_is_refused(license_invoice):
    with pytest.raises(InvoiceStateError) as refused:
        credit_note_issue(invoice=license_invoice, amount=Decimal("88.07"), reason="Too much")

    assert str(refused.value) == (
        "Invoice INV-2026-000001 totals 88.06; 0.00 is already credited, so at most 88.06 can be."
    )
    assert not CreditNote.objects.exists()


@pytest.mark.parametrize("amount", ["0", "-5.00", "1.005"])
def test_a_credit_note_is_a_positive_amount_in_whole_cents(license_invoice, amount):
    with pytest.raises(InvoiceStateError) as refused:
        credit_note_issue(invoice=license_invoice, amount=Decimal(amount), reason="Goodwill")

    assert str(refused.value) == "A credit note is a positive amount in whole cents."
    assert not CreditNote.objects.exists()


def test_a_credit_note_needs_a_reason(license_invoice):
    with pytest.raises(InvoiceStateError) as refused:
        credit_note_issue(invoice=license_invoice, amount=Decimal("5.00"), reason=" ")

    assert str(refused.value) == "A credit note needs a reason."
    assert not CreditNote.objects.exists()


def test_a_void_invoice_cannot_be_credited(license_invoice):
    invoice_void(invoice=license_invoice, reason="Billed in error")

    with pytest.raises(InvoiceStateError) as refused:
        credit_note_issue(invoice=license_invoice, amount=Decimal("10.00"), reason="Goodwill")

    assert str(refused.value) == "Invoice INV-2026-000001 is void: nobody owes it, so there is nothing to credit."
    assert not CreditNote.objects.exists()


# --- Monthly prepayment (last day of the month) -----------------------------------------------------------------------


def test_the_monthly_prepayment_is_issued_on_the_last_day_for_the_next_month():
    # given one hub with a monthly prepayment of 250.00 and two without one
    funded = HubFactory(client=ClientFactory(country="DE", company_name="Funded GmbH"))
    CreditAccount.objects.filter(hub=funded).update(monthly_prepayment=Decimal("250.00"))
    HubFactory()
    zero = HubFactory()
    CreditAccount.objects.filter(hub=zero).update(monthly_prepayment=Decimal("0.00"))

    # when the job runs on 30 November
    issued = monthly_prepayment_issue(month=dt.date(2026, 11, 1), issued_at=utc(2026, 11, 30, 0, 5))

    # then one Prepayment Invoice, for December
    assert len(issued) == 1
    invoice = Invoice.objects.get()
    assert (invoice.hub_id, invoice.kind, invoice.number) == (funded.id, InvoiceKind.PREPAYMENT, "INV-2026-000001")
    assert (invoice.period_key, invoice.period_start, invoice.period_end) == (
        "monthly:2026-12",
        dt.date(2026, 12, 1),
        dt.date(2027, 1, 1),
    )
    assert lines(invoice) == [
        ("charge", "Monthly prepayment for usage costs, December 2026", Decimal("250.00")),
        ("tax", "VAT 19%", Decimal("47.50")),
    ]
    assert invoice.total == Decimal("297.50")
    assert invoice.billed_company["company_name"] == "Funded GmbH"
    # and running it again issues nothing
    assert monthly_prepayment_issue(month=dt.date(2026, 11, 1), issued_at=utc(2026, 11, 30, 6)) == []
    # and paying it adds the 250.00 to the credit balance
    invoice_mark_paid(invoice=invoice, paid_at=utc(2026, 12, 1, 8))
    assert balance(funded) == Decimal("250.00")
    assert LedgerEntry.objects.get().period == dt.date(2026, 12, 1)


def test_the_monthly_prepayment_can_be_limited_to_some_hubs():
    first, second = HubFactory(), HubFactory()
    CreditAccount.objects.filter(hub__in=[first, second]).update(monthly_prepayment=Decimal("100.00"))

    issued = monthly_prepayment_issue(month=dt.date(2026, 12, 1), issued_at=utc(2026, 12, 31), hub_ids=[second.id])

    assert [(i.hub_id, i.period_key) for i in issued] == [(second.id, "monthly:2027-01")]


# --- Concurrency (PostgreSQL row locks) ----------------------------------------------------------------------------


@pytest.fixture
def no_delivery(monkeypatch):
    """Issued invoices are not rendered and emailed from the worker threads."""
    monkeypatch.setattr(issuing, "enqueue_each_on_commit", lambda task_name, ids: None)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_topup_requested_four_times_at_once_is_one_invoice(no_delivery):
    hub = HubFactory(client=ClientFactory(country="DE"))
    returned = []

    errors = run_concurrently(
        lambda worker: returned.append(topup_issue(hub=hub, amount=Decimal("50.00"), request_key="double-click").pk),
        4,
    )

    assert errors == []
    assert Invoice.objects.count() == 1
    assert returned == [Invoice.objects.get().pk] * 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_payment_applied_four_times_at_once_adds_the_funds_once(no_delivery):
    hub = HubFactory(client=ClientFactory(country="DE"))
    invoice = topup_issue(hub=hub, amount=Decimal("50.00"), request_key="r1")

    errors = run_concurrently(lambda worker: invoice_mark_paid(invoice=invoice, reference=f"pi_{worker}"), 4)

    assert errors == []
    assert LedgerEntry.objects.filter(kind=EntryKind.FUNDS_ADDED).count() == 1
    assert balance(hub) == Decimal("50.00")
    assert Invoice.objects.get().status == InvoiceStatus.PAID
    assert ledger_audit() == []
