"""Invoice numbers (gapless per series and year, given at issue) and what the database refuses to change once an
invoice is issued."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, transaction
from djmoney.money import Money

from billing.audit import ledger_audit
from billing.invoicing import issue as issuing
from billing.invoicing.licenses import license_issue, new_numbers_issue, new_numbers_sweep
from billing.invoicing.month_close import month_close
from billing.invoicing.partner_plans import partner_plan_issue
from billing.invoicing.prepayments import topup_issue
from billing.invoicing.settlement import credit_note_issue
from billing.ledger import ledger_post
from billing.models import (
    CreditAccount,
    EntryKind,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceSequence,
    InvoiceStatus,
    LedgerEntry,
    RateCardRate,
)
from billing.usage.ingest import usage_record_batch
from hub.models import PhoneNumber
from tests.concurrency import run_concurrently
from tests.factories import HubFactory, PartnerFactory, PhoneNumberFactory

NOV = dt.date(2026, 11, 1)
OCT = dt.date(2026, 10, 1)
ISSUED_AT = dt.datetime(2026, 11, 1, 0, 10, tzinfo=dt.UTC)
RATE = Decimal("0.123457")


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(utc(2026, 11, 1, 0, 10), tick=False):
        yield


def october_usage(number, count: int) -> None:
    result = usage_record_batch(
        events=[
            {
                "message_id": f"wamid.{number.e164}.{n}",
                "waba_id": number.waba.meta_waba_id,
                "phone_number": number.e164,
                "recipient_country": "DE",
                "category": "marketing",
                "billable": True,
                "timestamp": "2026-10-14T12:00:00Z",
            }
            for n in range(count)
        ]
    )
    assert result.accepted == count


def rate_card() -> None:
    RateCardRate.objects.create(
        effective_date=dt.date(2026, 1, 1), currency="EUR", market="DE", category="marketing", rate=RATE
    )


# --- Numbering --------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_numbers_are_consecutive_across_kinds():
    # given a hub with a number onboarded in September and another on 10 November, and October usage
    rate_card()
    number = PhoneNumberFactory(e164="+4915110000001", onboarded_at=utc(2026, 9, 1))
    hub = number.waba.hub
    PhoneNumberFactory(waba=number.waba, e164="+4915110000002", onboarded_at=utc(2026, 11, 10, 9))
    october_usage(number, 3)

    # when every kind of invoice is issued, one after the other
    (license_,) = license_issue(hub_ids=[hub.id], month=NOV, issued_at=ISSUED_AT)
    (mci,) = month_close(hub_ids=[hub.id], period=OCT, issued_at=ISSUED_AT)
    (plan,) = partner_plan_issue(partner_ids=[hub.client.partner_id], month=NOV, issued_at=ISSUED_AT)
    topup = topup_issue(hub=hub, amount=Decimal("50.00"), request_key="r1", issued_at=utc(2026, 11, 5, 9))
    (new_numbers,) = new_numbers_issue(day=dt.date(2026, 11, 10), issued_at=utc(2026, 11, 10, 9, 1))

    # then they share one series
    assert [
        (license_.kind, license_.number),
        (mci.kind, mci.number),
        (plan.kind, plan.number),
        (topup.kind, topup.number),
        (new_numbers.kind, new_numbers.number),
    ] == [
        (InvoiceKind.LICENSE, "INV-2026-000001"),
        (InvoiceKind.MONTH_CLOSING, "INV-2026-000002"),
        (InvoiceKind.PARTNER_PLAN, "INV-2026-000003"),
        (InvoiceKind.PREPAYMENT, "INV-2026-000004"),
        (InvoiceKind.LICENSE_NEW_NUMBERS, "INV-2026-000005"),
    ]
    assert InvoiceSequence.objects.get(series="INV", year=2026).last_number == 5


@pytest.mark.django_db
def test_a_new_year_restarts_at_one_and_each_year_keeps_its_own_sequence():
    hub = HubFactory()

    december = topup_issue(hub=hub, amount=Decimal("10.00"), request_key="a", issued_at=utc(2026, 12, 31, 23, 59))
    january = topup_issue(hub=hub, amount=Decimal("10.00"), request_key="b", issued_at=utc(2027, 1, 1, 0, 0))
    late_2026 = topup_issue(hub=hub, amount=Decimal("10.00"), request_key="c", issued_at=utc(2026, 12, 31, 23, 59))
    next_2027 = topup_issue(hub=hub, amount=Decimal("10.00"), request_key="d", issued_at=utc(2027, 1, 2))

    assert [december.number, january.number, late_2026.number, next_2027.number] == [
        "INV-2026-000001",
        "INV-2027-000001",
        "INV-2026-000002",
        "INV-2027-000002",
    ]
    assert sorted(InvoiceSequence.objects.values_list("series", "year", "last_number")) == [
        ("INV", 2026, 2),
        ("INV", 2027, 2),
    ]


@pytest.mark.django_db
def test_credit_notes_have_their_own_series_and_leave_invoice_numbers_alone():
    hub = HubFactory()
    invoice = topup_issue(hub=hub, amount=Decimal("100.00"), request_key="a", issued_at=utc(2026, 11, 1, 9))

    first = credit_note_issue(invoice=invoice, amount=Decimal("10.00"), reason="Goodwill")
    second = credit_note_issue(invoice=invoice, amount=Decimal("5.00"), reason="Goodwill")
    with time_machine.travel(utc(2027, 1, 3, 9), tick=False):
        next_year = credit_note_issue(invoice=invoice, amount=Decimal("1.00"), reason="Goodwill")
    following = topup_issue(hub=hub, amount=Decimal("10.00"), request_key="b", issued_at=utc(2026, 11, 2, 9))

    assert [first.number, second.number, next_year.number] == ["CN-2026-000001", "CN-2026-000002", "CN-2027-000001"]
    assert following.number == "INV-2026-000002"


@pytest.mark.django_db
def test_an_issue_rolled_back_gives_its_number_back():
    hub = HubFactory()

    with pytest.raises(RuntimeError), transaction.atomic():
        topup_issue(hub=hub, amount=Decimal("10.00"), request_key="lost", issued_at=utc(2026, 11, 1, 9))
        raise RuntimeError("the caller's transaction fails after the issue")
    kept = topup_issue(hub=hub, amount=Decimal("10.00"), request_key="kept", issued_at=utc(2026, 11, 1, 9))

    assert kept.number == "INV-2026-000001"
    assert Invoice.objects.count() == 1


@pytest.mark.django_db
def test_an_issued_invoice_is_found_by_its_issue_time():
    # On SQLite the issue time is written by a raw UPDATE; it must be stored as Django stores and queries it.
    at = utc(2026, 11, 1, 9)
    invoice = topup_issue(hub=HubFactory(), amount=Decimal("10.00"), request_key="a", issued_at=at)

    assert list(Invoice.objects.filter(issued_at=at)) == [invoice]
    assert list(Invoice.objects.filter(issued_at__lte=at)) == [invoice]


# --- Immutability -----------------------------------------------------------------------------------------------------


@pytest.fixture
def issued():
    return topup_issue(hub=HubFactory(), amount=Decimal("100.00"), request_key="a", issued_at=utc(2026, 11, 1, 9))


IMMUTABLE = "issued invoices are immutable"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        {"total": Decimal("1.00")},
        {"net_amount": Decimal("1.00"), "tax_amount": Decimal("0.00"), "total": Decimal("1.00")},
        {"number": "INV-2026-999999"},
        {"issued_at": utc(2026, 11, 2)},
        {"billed_company": {"company_name": "Someone Else GmbH"}},
        {"summary": {"ending_balance": "0.00"}},
        {"period_key": "topup:b"},
        {"language": "de"},
    ],
)
def test_an_issued_invoices_figures_cannot_be_updated(issued, change):
    with pytest.raises(Exception, match=IMMUTABLE), transaction.atomic():
        Invoice.objects.filter(pk=issued.pk).update(**change)

    issued.refresh_from_db()
    assert (issued.number, issued.total) == ("INV-2026-000001", Decimal("119.00"))


@pytest.mark.django_db
def test_an_issued_invoice_cannot_be_deleted(issued):
    with pytest.raises(Exception, match=IMMUTABLE), transaction.atomic():
        Invoice.objects.filter(pk=issued.pk)._raw_delete(connection.alias)

    assert Invoice.objects.filter(pk=issued.pk).exists()


@pytest.mark.django_db
def test_an_issued_invoices_lines_cannot_be_added_changed_or_deleted(issued):
    line = issued.lines.get(position=1)

    with pytest.raises(Exception, match=IMMUTABLE), transaction.atomic():
        InvoiceLine.objects.create(
            invoice=issued, position=9, role="charge", description="Extra", unit_amount=1, amount=1
        )
    with pytest.raises(Exception, match=IMMUTABLE), transaction.atomic():
        InvoiceLine.objects.filter(pk=line.pk).update(amount=Decimal("1.00"))
    with pytest.raises(Exception, match=IMMUTABLE), transaction.atomic():
        InvoiceLine.objects.filter(pk=line.pk).delete()

    assert list(issued.lines.order_by("position").values_list("description", "amount")) == [
        ("Funds added to Credit Balance", Decimal("100.00")),
        ("VAT 19%", Decimal("19.00")),
    ]


@pytest.mark.django_db
def test_a_line_cannot_be_moved_onto_an_issued_invoice(issued):
    draft = Invoice.objects.create(
        kind=InvoiceKind.LICENSE, party_key="hub:x", hub=issued.hub, client=issued.client, period_key="2026-12",
        period_start=dt.date(2026, 12, 1), period_end=dt.date(2027, 1, 1), currency="EUR",
        net_amount=Decimal("1.00"), total=Decimal("1.00"),
    )  # fmt: skip
    line = InvoiceLine.objects.create(
        invoice=draft, position=1, role="charge", description="Draft line", unit_amount=1, amount=1
    )

    with pytest.raises(Exception, match=IMMUTABLE), transaction.atomic():
        InvoiceLine.objects.filter(pk=line.pk).update(invoice=issued)


@pytest.mark.django_db
def test_a_drafts_lines_can_still_change(issued):
    draft = Invoice.objects.create(
        kind=InvoiceKind.LICENSE, party_key="hub:x", hub=issued.hub, client=issued.client, period_key="2026-12",
        period_start=dt.date(2026, 12, 1), period_end=dt.date(2027, 1, 1), currency="EUR",
        net_amount=Decimal("1.00"), total=Decimal("1.00"),
    )  # fmt: skip
    line = InvoiceLine.objects.create(
        invoice=draft, position=1, role="charge", description="Draft line", unit_amount=1, amount=1
    )

    InvoiceLine.objects.filter(pk=line.pk).update(amount=Decimal("2.00"))
    Invoice.objects.filter(pk=draft.pk).update(net_amount=Decimal("2.00"), total=Decimal("2.00"))
    InvoiceLine.objects.filter(pk=line.pk).delete()
    Invoice.objects.filter(pk=draft.pk).delete()

    assert not Invoice.objects.filter(pk=draft.pk).exists()


@pytest.mark.django_db
def test_status_payment_void_and_delivery_columns_still_move_after_issue(issued):
    paid_at = utc(2026, 11, 2, 10)

    Invoice.objects.filter(pk=issued.pk).update(status=InvoiceStatus.UNPAID)
    Invoice.objects.filter(pk=issued.pk).update(status=InvoiceStatus.PAID, paid_at=paid_at)
    Invoice.objects.filter(pk=issued.pk).update(voided_at=paid_at, void_reason="test", delivered_at=paid_at)
    Invoice.objects.filter(pk=issued.pk).update(pdf="invoices/2026/11/INV-2026-000001.pdf")

    issued.refresh_from_db()
    assert (issued.status, issued.paid_at, issued.delivered_at) == (InvoiceStatus.PAID, paid_at, paid_at)
    assert issued.pdf.name == "invoices/2026/11/INV-2026-000001.pdf"
    assert issued.total == Decimal("119.00")


def calls(cursor, function: str) -> int:
    """How often this transaction has completed a call of `function` (PostgreSQL's per-transaction function
    statistics, with track_functions on; a call that raises is not counted)."""
    cursor.execute("SELECT pg_stat_get_xact_function_calls(%s::regproc)", [function])
    return cursor.fetchone()[0] or 0


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_guard_is_called_only_for_a_row_it_refuses(issued):
    """The WHEN conditions of billing_invoice_frozen (billing 0026): numbering drafts in one UPDATE, as
    invoices_issue does, and moving an issued invoice's status call no plpgsql per row; a change it refuses still
    raises."""
    drafts = []
    for n in range(4):
        drafts.append(Invoice.objects.create(
            kind=InvoiceKind.LICENSE, party_key=f"hub:{n}", hub=issued.hub, client=issued.client, period_key="2026-12",
            period_start=dt.date(2026, 12, 1), period_end=dt.date(2027, 1, 1), currency="EUR",
            net_amount=Decimal("1.00"), total=Decimal("1.00"),
        ))  # fmt: skip
    line = InvoiceLine.objects.create(
        invoice=drafts.pop(), position=1, role="charge", description="Draft line", unit_amount=1, amount=1
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL track_functions = 'pl'")
        numbers = issuing.numbers_take(sequence=issuing.sequence_lock(series="INV", year=2026), count=3)
        issuing._issue_rows(drafts, numbers, ISSUED_AT)  # invoices_issue's one UPDATE
        Invoice.objects.filter(pk=issued.pk).update(status=InvoiceStatus.UNPAID)
        assert calls(cursor, "billing_invoice_frozen") == 0
        # the statistics do count here: a draft's line moved runs its row guard (billing_invoiceline_frozen) once
        InvoiceLine.objects.filter(pk=line.pk).update(amount=Decimal("2.00"))
        assert calls(cursor, "billing_invoiceline_frozen") == 1
        with pytest.raises(Exception, match=IMMUTABLE), transaction.atomic():
            Invoice.objects.filter(pk=drafts[0].pk).update(total=Decimal("2.00"))
        with pytest.raises(Exception, match=IMMUTABLE), transaction.atomic():
            Invoice.objects.filter(pk=drafts[1].pk)._raw_delete(connection.alias)

    assert numbers == ["INV-2026-000002", "INV-2026-000003", "INV-2026-000004"]
    issued_drafts = Invoice.objects.filter(pk__in=[d.pk for d in drafts]).order_by("pk")
    assert list(issued_drafts.values_list("number", "total")) == [(n, Decimal("1.00")) for n in numbers]


# --- Concurrency (PostgreSQL row locks) -------------------------------------------------------------------------------


@pytest.fixture
def deliveries(monkeypatch):
    """Invoice ids queued for delivery (PDF and email), recorded instead of rendered in the worker threads."""
    queued: list[int] = []
    lock = threading.Lock()

    def record(task_name: str, invoice_ids: list[int]) -> None:
        assert task_name == "billing.deliver_invoice"
        with lock:
            queued.extend(invoice_ids)

    monkeypatch.setattr(issuing, "enqueue_each_on_commit", record)
    return queued


def all_numbers() -> list[str]:
    return sorted(Invoice.objects.values_list("number", flat=True))


def expected_numbers(count: int) -> list[str]:
    return [f"INV-2026-{n:06d}" for n in range(1, count + 1)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_issuers_take_consecutive_numbers_without_gaps_or_duplicates(deliveries):
    # given three partners and three hubs, each issued for by its own worker
    partners = [PartnerFactory() for _ in range(3)]
    hubs = [HubFactory() for _ in range(3)]

    def work(worker: int) -> None:
        if worker < 3:
            partner_plan_issue(partner_ids=[partners[worker].id], month=NOV, issued_at=ISSUED_AT)
        else:
            topup_issue(hub=hubs[worker - 3], amount=Decimal("25.00"), request_key=f"w{worker}", issued_at=ISSUED_AT)

    errors = run_concurrently(work, 6)

    assert errors == []
    assert all_numbers() == expected_numbers(6)
    assert InvoiceSequence.objects.get(series="INV", year=2026).last_number == 6
    assert Invoice.objects.filter(kind=InvoiceKind.PARTNER_PLAN).count() == 3
    assert Invoice.objects.filter(kind=InvoiceKind.PREPAYMENT).count() == 3
    assert sorted(deliveries) == sorted(Invoice.objects.values_list("id", flat=True))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_month_close_on_four_workers_closes_each_hub_once(deliveries):
    # given three hubs with October usage and credit
    rate_card()
    numbers = [PhoneNumberFactory(e164=f"+491511000000{n}") for n in range(1, 4)]
    for n, number in enumerate(numbers, start=1):
        ledger_post(
            account=number.waba.hub.credit_account,
            kind=EntryKind.FUNDS_ADDED,
            amount=Money("1.00", "EUR"),
            key=f"funds:{n}",
            occurred_at=utc(2026, 10, 2),
        )
        october_usage(number, 10 * n)
    hub_ids = [number.waba.hub_id for number in numbers]

    # when four workers run the same month close and license job at once
    def work(worker: int) -> None:
        if worker % 2:
            license_issue(hub_ids=hub_ids, month=NOV, issued_at=ISSUED_AT)
        else:
            month_close(hub_ids=hub_ids, period=OCT, issued_at=ISSUED_AT)

    errors = run_concurrently(work, 8)

    # then each invoice exists once, numbered without gaps, and the books are clean
    assert errors == []
    assert Invoice.objects.filter(kind=InvoiceKind.MONTH_CLOSING).count() == 3
    assert Invoice.objects.filter(kind=InvoiceKind.LICENSE).count() == 3
    assert all_numbers() == expected_numbers(6)
    assert LedgerEntry.objects.filter(kind=EntryKind.ROUNDING).count() == 3
    # usage 1.234570, 2.469140, 3.703710 → D = 0.23, 1.47, 2.70
    assert sorted(LedgerEntry.objects.filter(kind=EntryKind.MCI_INVOICED).values_list("amount", flat=True)) == [
        Decimal("0.23"),
        Decimal("1.47"),
        Decimal("2.70"),
    ]
    assert set(CreditAccount.objects.values_list("closed_through", flat=True)) == {OCT}
    assert set(CreditAccount.objects.values_list("balance", flat=True)) == {Decimal("0")}
    assert ledger_audit() == []
    assert sorted(deliveries) == sorted(Invoice.objects.values_list("id", flat=True))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_onboarding_tasks_racing_the_sweep_bill_each_new_number_once(deliveries):
    # given three hubs, each with a number onboarded on 15 November
    numbers = [PhoneNumberFactory(e164=f"+491511000000{n}", onboarded_at=utc(2026, 11, 15, 10)) for n in range(1, 4)]
    hub_ids = [number.waba.hub_id for number in numbers]

    # when their onboarding tasks (retried) and the next day's sweep run at once
    def work(worker: int) -> None:
        if worker % 2:
            new_numbers_sweep(day=dt.date(2026, 11, 16), issued_at=utc(2026, 11, 16, 0, 5))
        else:
            new_numbers_issue(day=dt.date(2026, 11, 15), issued_at=utc(2026, 11, 15, 10, 1), hub_ids=hub_ids)

    errors = run_concurrently(work, 8)

    # then each number is billed once, on one invoice per hub, numbered without gaps
    assert errors == []
    billed = InvoiceLine.objects.filter(role="charge").values_list("details__number", flat=True)
    assert sorted(billed) == sorted(number.e164 for number in numbers)
    assert all_numbers() == expected_numbers(3)
    assert set(PhoneNumber.objects.values_list("licensed_through", flat=True)) == {NOV}
