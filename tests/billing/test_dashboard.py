"""The staff billing dashboard (the admin index page): receivables by age and currency, blocks and why, failed
payments, the last billing day, recurring and usage revenue, each linking to the changelist of what it counts; the
same number of queries whatever the data size."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.test import Client as HttpClient
from django.urls import reverse
from djmoney.money import Money

from billing.dashboard import billing_dashboard
from billing.invoicing.calendar import billing_run
from billing.invoicing.prepayments import topup_issue
from billing.invoicing.settlement import invoice_mark_unpaid
from billing.ledger import ledger_post
from billing.models import BillingRun, EntryKind, Invoice, InvoiceKind, PaymentAttempt, Restriction
from tests.factories import ClientFactory, PartnerFactory, PhoneNumberFactory, UserFactory, WabaFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def _hub(currency: str):
    partner = PartnerFactory(currency=currency)
    # Onboarded in August: no pro-rated new-numbers invoice falls in the months billed here.
    number = PhoneNumberFactory(
        waba=WabaFactory(hub__client=ClientFactory(partner=partner)), onboarded_at=utc(2026, 8, 3)
    )
    return number.waba.hub


def _failed_attempt(invoice: Invoice, key: str) -> PaymentAttempt:
    return PaymentAttempt.objects.create(
        invoice=invoice, method_kind="card", method_label="Visa •••• 0002", purpose="automatic", round="automatic",
        amount=invoice.total, currency=invoice.currency, idempotency_key=key, status="failed",
        failure_message="Your card was declined.",
    )  # fmt: skip


def world(eur_hubs: int) -> dict:
    """`eur_hubs` EUR hubs and one USD hub, each of its own German partner, with one Regular number: billed on
    1 October and 1 November (License 29.75 and Partner Plan 595.00 with 19% VAT), 10.50 of usage in November; the
    first EUR hub's November License unpaid (blocked), one declined charge on it yesterday and one 12 days ago,
    a top-up of 100.00 (119.00) on 20 November, and its November License emailed."""
    hubs = [_hub("EUR") for _ in range(eur_hubs)] + [_hub("USD")]
    for day in (dt.date(2026, 10, 1), dt.date(2026, 11, 1)):
        with time_machine.travel(dt.datetime.combine(day, dt.time(0, 5), tzinfo=dt.UTC), tick=False):
            billing_run(day=day)
    for n, hub in enumerate(hubs):
        ledger_post(account=hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money("50", hub.currency),
                    key=f"funds:{n}", occurred_at=utc(2026, 11, 2))  # fmt: skip
        ledger_post(account=hub.credit_account, kind=EntryKind.USAGE, amount=Money("-10.50", hub.currency),
                    key=f"usage:{n}", occurred_at=utc(2026, 11, 15))  # fmt: skip
    first = hubs[0]
    november = Invoice.objects.get(hub=first, kind=InvoiceKind.LICENSE, period_start=dt.date(2026, 11, 1))
    invoice_mark_unpaid(invoice=november)
    Invoice.objects.filter(pk=november.pk).update(delivered_at=utc(2026, 11, 1, 0, 7))
    with time_machine.travel(utc(2026, 11, 10, 9), tick=False):
        _failed_attempt(november, "attempt-old")
    with time_machine.travel(utc(2026, 11, 21, 9), tick=False):
        _failed_attempt(november, "attempt-new")
    topup_issue(hub=first, amount=Decimal("100.00"), request_key="topup-1", issued_at=utc(2026, 11, 20, 8))
    return {"hubs": hubs, "november": november}


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def values(figures) -> list:
    return [figure.value for figure in figures]


def test_the_dashboard_adds_up_what_is_owed_blocked_failed_billed_and_used():
    world(eur_hubs=2)

    board = billing_dashboard()

    assert board.receivables.buckets == ["0–7", "8–30", ">30"]
    assert values(board.receivables.rows["EUR"]) == [
        Money("119.00", "EUR"), Money("1249.50", "EUR"), Money("1249.50", "EUR"), Money("2618.00", "EUR")
    ]  # fmt: skip
    assert [f.count for f in board.receivables.rows["EUR"]] == [1, 4, 4, 9]
    assert values(board.receivables.rows["USD"]) == [
        Money("0.00", "USD"), Money("624.75", "USD"), Money("624.75", "USD"), Money("1249.50", "USD")
    ]  # fmt: skip
    assert values(board.blocked) == [1] and board.blocked_reasons == ["License invoice not paid upon receipt"]
    assert [r.hub for r in board.blocked_latest] == [Restriction.objects.get(lifted_at=None).hub]
    assert values(board.payments_failed) == [Money("29.75", "EUR")] and board.payments_failed[0].count == 1
    assert [a.idempotency_key for a in board.payments_failed_latest] == ["attempt-new"]
    day = board.billing_day
    assert day.run.day == dt.date(2026, 11, 1) and day.run.duration == dt.timedelta(0)
    assert [(k.kind, k.expected, k.issued.value, k.delivered.value) for k in day.kinds] == [
        ("LICENSE", 3, 3, 1), ("MONTH_CLOSING", 0, 0, 0), ("PARTNER_PLAN", 3, 3, 0),
    ]  # fmt: skip
    assert {label: values(f) for label, f in board.recurring.items()} == {
        "License Invoice": [Money("50.00", "EUR"), Money("25.00", "USD")],
        "Partner Plan Invoice": [Money("1000.00", "EUR"), Money("500.00", "USD")],
    }
    assert values(board.usage_revenue) == [Money("21.00", "EUR"), Money("10.50", "USD")]


@pytest.fixture
def staff_client():
    client = HttpClient()
    client.force_login(UserFactory(username="billing-staff", is_staff=True, is_superuser=True))
    return client


def listed(client, url: str) -> set[str]:
    response = client.get(url)
    assert response.status_code == 200, url
    return {row.number if hasattr(row, "number") else row.pk for row in response.context["cl"].result_list}


def test_each_figure_links_to_the_changelist_of_exactly_what_it_counts(staff_client):
    data = world(eur_hubs=2)
    board = billing_dashboard()
    eur = board.receivables.rows["EUR"]

    october = set(
        Invoice.objects.filter(currency="EUR", period_start=dt.date(2026, 10, 1)).values_list("number", flat=True)
    )
    assert listed(staff_client, eur[2].url) == october
    topup = Invoice.objects.get(kind=InvoiceKind.PREPAYMENT)
    assert listed(staff_client, eur[0].url) == {topup.number}
    assert len(listed(staff_client, eur[3].url)) == 9
    day = board.billing_day
    license_row = day.kinds[0]
    assert listed(staff_client, license_row.delivered.url) == {data["november"].number}
    assert len(listed(staff_client, license_row.issued.url)) == 3
    assert listed(staff_client, board.payments_failed[0].url) == {
        PaymentAttempt.objects.get(idempotency_key="attempt-new").pk
    }
    assert listed(staff_client, board.blocked[0].url) == {Restriction.objects.get(lifted_at=None).pk}
    plans = set(Invoice.objects.filter(kind="PARTNER_PLAN", currency="EUR", period_start=dt.date(2026, 11, 1))
                .values_list("number", flat=True))  # fmt: skip
    assert listed(staff_client, board.recurring["Partner Plan Invoice"][0].url) == plans
    assert len(listed(staff_client, board.usage_revenue[0].url)) == 2


def test_the_admin_index_shows_the_dashboard_to_billing_staff(staff_client):
    world(eur_hubs=1)

    page = staff_client.get(reverse("admin:index")).content.decode()

    assert "Billing dashboard — 22 Nov 2026 (UTC)" in page
    assert "Receivables by age (days since due)" in page and "€1,368.50" in page
    assert "License invoice not paid upon receipt" in page
    assert "Last billing day: 1 Nov 2026" in page and "Run started 00:05:00 UTC, took 0:00:00." in page
    assert "Payments failed in the last 7 days" in page and "1 failed attempt" in page


def test_staff_without_invoice_rights_get_the_plain_admin_index():
    world(eur_hubs=1)
    client = HttpClient()
    client.force_login(UserFactory(username="helpdesk", is_staff=True))

    page = client.get(reverse("admin:index")).content.decode()

    assert "Billing dashboard" not in page


@pytest.mark.parametrize("eur_hubs", [1, 6])
def test_the_dashboard_costs_the_same_queries_whatever_the_data_size(eur_hubs, django_assert_num_queries,
                                                                     staff_client):  # fmt: skip
    world(eur_hubs=eur_hubs)
    assert BillingRun.objects.count() == 2

    with django_assert_num_queries(10):
        billing_dashboard()
    with django_assert_num_queries(16):
        assert staff_client.get(reverse("admin:index")).status_code == 200
