"""Money edge 3: the usage breakdown printed on a Month Closing Invoice (its PDF and its Client Hub page) adds up
exactly to the WhatsApp Usage Costs line; the rounding is allocated by largest remainder."""

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st
from pypdf import PdfReader

from billing.invoicing.month_close import month_close
from billing.models import InvoiceLine, RateCardRate
from billing.money import CENT, cents
from billing.pdf import invoice_pdf_render
from billing.selectors.usage_breakdown import UsageBreakdownError, cents_allocate, mci_usage_breakdown
from billing.usage.ingest import usage_record_batch
from clients.models import ClientMembership
from tests.factories import ClientFactory, HubFactory, PartnerFactory, PhoneNumberFactory, UserFactory, WabaFactory

OCT, NOV = dt.date(2026, 10, 1), dt.date(2026, 11, 1)
ISSUED_AT = dt.datetime(2026, 11, 1, 0, 10, tzinfo=dt.UTC)
CATEGORIES = ("authentication", "marketing", "utility")


@pytest.fixture
def mci_of_three_sixths(time_machine, settings, tmp_path):
    """A hub's October: one message in each of three categories at €0.006 (0.018 in all), closed on 1 November:
    its WhatsApp Usage Costs line is €0.02."""
    settings.MEDIA_ROOT = tmp_path
    time_machine.move_to(ISSUED_AT, tick=False)
    for category in CATEGORIES:
        RateCardRate.objects.create(
            effective_date=dt.date(2026, 1, 1), currency="EUR", market="DE", category=category, rate=Decimal("0.006")
        )
    client = ClientFactory(company_name="Bäckerei Müller GmbH", country="DE", partner=PartnerFactory(currency="EUR"))
    number = PhoneNumberFactory(waba=WabaFactory(hub=HubFactory(client=client)), e164="+4915112345678")
    events = [
        {
            "message_id": f"wamid.sixth.{category}", "waba_id": number.waba.meta_waba_id,
            "phone_number": number.e164, "recipient_country": "DE", "category": category, "billable": True,
            "timestamp": dt.datetime(2026, 10, 15, 12, tzinfo=dt.UTC).isoformat(),
        }  # fmt: skip
        for category in CATEGORIES
    ]
    assert usage_record_batch(events=events).accepted == 3
    (invoice,) = month_close(hub_ids=[number.waba.hub_id], period=OCT, issued_at=ISSUED_AT)
    return invoice


@pytest.mark.django_db
def test_three_rows_of_six_tenths_of_a_cent_print_as_one_one_and_zero_cents_under_two(mci_of_three_sixths):
    invoice = mci_of_three_sixths
    usage_line = invoice.lines.get(role=InvoiceLine.Role.USAGE)
    assert (usage_line.description, usage_line.amount) == ("WhatsApp Usage Costs", Decimal("0.02"))

    rows = mci_usage_breakdown(invoice=invoice)

    # equal remainders (0.006 each): the earlier rows get the two cents
    assert [(row.category, row.messages, row.cost) for row in rows] == [
        ("authentication", 1, Decimal("0.01")),
        ("marketing", 1, Decimal("0.01")),
        ("utility", 1, Decimal("0.00")),
    ]


@pytest.mark.django_db
def test_the_pdf_and_the_invoice_page_print_the_same_rows_adding_up_to_the_usage_line(mci_of_three_sixths, client):
    invoice = mci_of_three_sixths
    pdf = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(invoice_pdf_render(invoice=invoice))).pages)
                   .split())  # fmt: skip
    user = UserFactory()
    ClientMembership.objects.create(user=user, client=invoice.client, role="viewer")
    client.force_login(user)

    page = client.get(reverse("client:invoice", args=[invoice.number])).content.decode()

    waba = invoice.hub.wabas.get().meta_waba_id
    assert "WhatsApp Usage Costs 1 €0.02 €0.02" in pdf
    assert f"{waba} +4915112345678 Authentication Germany 1 €0.01" in pdf
    assert f"{waba} +4915112345678 Marketing Germany 1 €0.01" in pdf
    assert f"{waba} +4915112345678 Utility Germany 1 €0.00" in pdf
    table = page[page.index("data-usage-breakdown") :]
    cells = re.findall(r"<td>([^<]*)</td><td>([^<]*)</td><td class=\"num\">(\d+)</td><td class=\"num\">([^<]*)</td>",
                       table)  # fmt: skip
    assert cells == [
        ("Authentication", "Germany", "1", "€0.01"),
        ("Marketing", "Germany", "1", "€0.01"),
        ("Utility", "Germany", "1", "€0.00"),
    ]


def test_the_missing_cents_go_to_the_largest_remainders():
    exact = [Decimal("0.187500"), Decimal("0.791700"), Decimal("0.045000"), Decimal("0.218800")]  # 1.2430

    assert cents_allocate(exact, Decimal("1.24")) == [
        Decimal("0.19"), Decimal("0.79"), Decimal("0.04"), Decimal("0.22"),
    ]  # fmt: skip
    assert cents_allocate([], Decimal("0.00")) == []
    assert cents_allocate([Decimal("0.004")] * 3, Decimal("0.01")) == [Decimal("0.01"), Decimal(0), Decimal(0)]


def test_a_total_the_rows_cannot_round_to_is_refused():
    with pytest.raises(UsageBreakdownError, match=r"^The usage rows add up to 0\.018000, which cannot be rounded "
                                                  r"to 0\.05\.$"):  # fmt: skip
        cents_allocate([Decimal("0.006")] * 3, Decimal("0.05"))
    with pytest.raises(UsageBreakdownError):
        cents_allocate([Decimal("0.006")] * 3, Decimal("0.015"))  # not in cents


MICRO_COSTS = st.decimals(min_value=0, max_value=Decimal("5000"), places=6, allow_nan=False, allow_infinity=False)


@given(exact=st.lists(MICRO_COSTS, max_size=60))
def test_the_rows_always_add_up_to_the_rounded_total_each_within_a_cent_of_its_cost(exact):
    total = cents(sum(exact, Decimal(0)))

    rows = cents_allocate(exact, total)

    assert sum(rows, Decimal(0)) == total
    assert all(row == cents(row) for row in rows)
    assert all(abs(row - cost) < CENT for row, cost in zip(rows, exact, strict=True))


@given(exact=st.lists(MICRO_COSTS, min_size=1, max_size=60), shift=st.integers(min_value=-60, max_value=60))
def test_any_total_within_a_cent_per_row_is_reached_exactly(exact, shift):
    """Not only the rounded sum: any total in cents that the rows can reach, a cent each at most."""
    total = cents(sum(exact, Decimal(0))) + shift * CENT
    floors = sum((cost.quantize(CENT, rounding="ROUND_FLOOR") for cost in exact), Decimal(0))
    reachable = floors <= total <= floors + len(exact) * CENT

    if not reachable:
        with pytest.raises(UsageBreakdownError):
            cents_allocate(exact, total)
        return
    rows = cents_allocate(exact, total)
    assert sum(rows, Decimal(0)) == total
    for row, cost in zip(rows, exact, strict=True):  # rounded down, or up by the one cent it was given
        floor = cost.quantize(CENT, rounding="ROUND_FLOOR")
        assert row in (floor, floor + CENT)
