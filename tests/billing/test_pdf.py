"""Invoice PDFs, read back from the rendered file: what a finance team sees on them."""

import datetime as dt
import io
import itertools
import re
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from pypdf import PdfReader

from billing.models import Invoice, InvoiceKind, InvoiceLine, MessageUsage
from billing.pdf import InvoicePdfError, invoice_pdf_render, invoice_pdf_store, money_format
from billing.selectors.usage_breakdown import UsageRow, mci_usage_breakdown
from tests.factories import ClientFactory, HubFactory, PartnerFactory, PhoneNumberFactory, WabaFactory

pytestmark = pytest.mark.django_db

OCT = dt.date(2026, 10, 1)
NOV = dt.date(2026, 11, 1)
DEC = dt.date(2026, 12, 1)
ISSUED_AT = dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC)
WABA_ID = "104857600123456"
NUMBER_A = "+4915123456701"
NUMBER_B = "+4915123456702"
NUMBER_C = "+4915123456703"
MESSAGE_IDS = (f"wamid.{n:08d}" for n in itertools.count(1))


def pdf_text(data: bytes) -> str:
    """The PDF's text, whitespace runs collapsed to one space."""
    pages = PdfReader(io.BytesIO(data)).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


def draft_create(*, lines: list[tuple[str, str, str]], **fields) -> Invoice:
    """A draft invoice with its lines (role, description, amount): lines can only be added before issue."""
    invoice = Invoice.objects.create(status="draft", number=None, **fields)
    for position, (role, description, amount) in enumerate(lines, start=1):
        InvoiceLine.objects.create(
            invoice=invoice, position=position, role=role, description=description, unit_amount=amount, amount=amount
        )
    return invoice


def issue(invoice: Invoice, number: str = "INV-2026-000001", *, status: str = "pending") -> Invoice:
    Invoice.objects.filter(pk=invoice.pk).update(
        number=number,
        status=status,
        issued_at=ISSUED_AT,
        due_date=ISSUED_AT.date(),
        paid_at=ISSUED_AT if status == "paid" else None,
    )
    return Invoice.objects.get(pk=invoice.pk)


def usage_record(number, *, count: int, category: str, market: str, rate: str, period=OCT, billable=True):
    sent_at = dt.datetime.combine(period, dt.time(12), tzinfo=dt.UTC)
    MessageUsage.objects.bulk_create(
        MessageUsage(
            hub=number.waba.hub,
            waba=number.waba,
            phone_number=number,
            message_id=next(MESSAGE_IDS),
            recipient_country="DE",
            market=market,
            category=category,
            pricing_model="PMP",
            billable=billable,
            sent_at=sent_at,
            rate_date=period,
            rate=Decimal(rate),
            cost=Decimal(rate) if billable else Decimal(0),
            currency="EUR",
            period=period,
            recorded_at=sent_at,
        )
        for _ in range(count)
    )


@pytest.fixture
def hub():
    client = ClientFactory(
        company_name="Bäckerei Müller GmbH",
        address_line1="Schönhauser Allee 12",
        postal_code="10437",
        city="Berlin",
        country="DE",
        vat_id="DE811907980",
        billing_email="buchhaltung@baeckerei-mueller.example",
    )
    return HubFactory(client=client, hub_id="HUB-BKMLR7Q2")


@pytest.fixture
def october_usage(hub):
    """2,016 billable October messages in 5 groups costing 1,234.4993 (the MCI's usage line: 1,234.50), plus messages
    that must not count."""
    waba = WabaFactory(hub=hub, meta_waba_id=WABA_ID)
    number_a = PhoneNumberFactory(waba=waba, e164=NUMBER_A)
    number_b = PhoneNumberFactory(waba=waba, e164=NUMBER_B)
    usage_record(number_a, count=7, category="marketing", market="DE", rate="0.113100")
    usage_record(number_a, count=2, category="utility", market="DE", rate="0.022500")
    usage_record(number_a, count=3, category="marketing", market="BR", rate="0.062500")
    usage_record(number_b, count=4, category="authentication", market="DE", rate="0.054700")
    number_c = PhoneNumberFactory(waba=waba, e164=NUMBER_C)
    usage_record(number_c, count=2000, category="marketing", market="DE", rate="0.616628")
    usage_record(number_a, count=5, category="service", market="DE", rate="0", billable=False)
    usage_record(number_a, count=2, category="marketing", market="DE", rate="0.113100", period=NOV)
    other_hub_number = PhoneNumberFactory(waba=WabaFactory(), e164="+4915123456799")
    usage_record(other_hub_number, count=1, category="marketing", market="DE", rate="0.113100")


def month_closing_invoice(hub) -> Invoice:
    """October: S 200.00 + A 1,000.00 − U 1,234.50 + R 10.00 + C −5.25 = E −29.75, so 29.75 is payable, plus the
    4% card fee 1.19 and 19% VAT on 30.94 (5.88)."""
    draft = draft_create(
        kind=InvoiceKind.MONTH_CLOSING,
        party_key=f"hub:{hub.pk}",
        hub=hub,
        client=hub.client,
        period_key="2026-10",
        period_start=OCT,
        period_end=NOV,
        currency="EUR",
        net_amount=Decimal("29.75"),
        fee_amount=Decimal("1.19"),
        tax_rate=Decimal("0.19"),
        tax_amount=Decimal("5.88"),
        total=Decimal("36.82"),
        pays_by_card=True,
        billed_company={**hub.client.company_snapshot(), "hub_id": hub.hub_id},
        summary={
            "hub_id": hub.hub_id,
            "starting_balance": "200.00",
            "total_added_funds": "1000.00",
            "total_usage": "1234.50",
            "total_refunds": "10.00",
            "ending_balance": "-29.75",
            "usage_reconciliation": "-5.25",
        },
        lines=[
            ("usage", "WhatsApp Usage Costs", "1234.50"),
            ("reconciliation", "Usage Reconciliation", "5.25"),
            ("settled", "Settled with Credit Balance", "-1210.00"),
            ("fee", "Transaction Fee (card, 4%)", "1.19"),
            ("tax", "VAT 19%", "5.88"),
        ],
    )
    return issue(draft)


def test_money_is_printed_with_its_symbol_half_up_to_cents_and_a_minus_sign():
    assert money_format(Decimal("1234.5"), "EUR") == "€1,234.50"
    assert money_format("25", "USD") == "$25.00"
    assert money_format(Decimal("-50"), "EUR") == "−€50.00"
    assert money_format(Decimal("0.045"), "EUR") == "€0.05"
    assert money_format(Decimal("-0.004"), "EUR") == "€0.00"


def test_usage_breakdown_is_one_row_per_waba_number_category_and_market(hub, october_usage, django_assert_num_queries):
    invoice = month_closing_invoice(hub)

    with django_assert_num_queries(2):  # the rows, and the usage line they add up to
        rows = mci_usage_breakdown(invoice=invoice)

    # rounded down, the rows make 1,234.47; the 3 cents missing to the line's 1,234.50 go to the largest remainders
    assert rows == [
        UsageRow(WABA_ID, NUMBER_A, "marketing", "BR", 3, Decimal("0.19")),  # 0.187500: 2nd largest remainder
        UsageRow(WABA_ID, NUMBER_A, "marketing", "DE", 7, Decimal("0.79")),  # 0.791700
        UsageRow(WABA_ID, NUMBER_A, "utility", "DE", 2, Decimal("0.04")),  # 0.045000: 4th, no cent left for it
        UsageRow(WABA_ID, NUMBER_B, "authentication", "DE", 4, Decimal("0.22")),  # 0.218800: largest remainder
        UsageRow(WABA_ID, NUMBER_C, "marketing", "DE", 2000, Decimal("1233.26")),  # 1,233.256000: 3rd
    ]
    assert sum(row.cost for row in rows) == Decimal("1234.50")


def test_month_closing_invoice_pdf_shows_account_lines_summary_and_usage(hub, october_usage):
    invoice = month_closing_invoice(hub)

    text = pdf_text(invoice_pdf_render(invoice=invoice))

    assert "Month Closing Invoice" in text
    assert "Invoice number INV-2026-000001" in text
    assert "Issue date 1 Nov 2026" in text
    assert "Due date 1 Nov 2026" in text
    assert "Key Account Details Hub ID HUB-BKMLR7Q2" in text
    assert "Billing period 1 Oct 2026 – 31 Oct 2026" in text
    assert "Bäckerei Müller GmbH Schönhauser Allee 12 10437 Berlin Germany VAT ID: DE811907980" in text
    assert "Hub Portal GmbH" in text
    assert "VAT ID: DE123456789" in text
    # the lines, in position order
    assert (
        "WhatsApp Usage Costs 1 €1,234.50 €1,234.50 "
        "Usage Reconciliation 1 €5.25 €5.25 "
        "Settled with Credit Balance 1 −€1,210.00 −€1,210.00 "
        "Transaction Fee (card, 4%) 1 €1.19 €1.19 "
        "VAT 19% 1 €5.88 €5.88 "
        "Amount Payable €36.82"
    ) in text
    assert (
        "Monthly Summary Hub ID HUB-BKMLR7Q2 Starting Balance €200.00 Total Added Funds €1,000.00 "
        "Total Usage €1,234.50 Total Refunds €10.00 Ending Balance −€29.75 Usage Reconciliation −€5.25"
    ) in text
    # 7 marketing messages to Germany from number A: one row, not seven
    assert f"{WABA_ID} {NUMBER_A} Marketing Germany 7 €0.79" in text
    assert f"{WABA_ID} {NUMBER_A} Utility Germany 2 €0.04" in text
    assert f"{WABA_ID} {NUMBER_A} Marketing Brazil 3 €0.19" in text
    assert f"{WABA_ID} {NUMBER_B} Authentication Germany 4 €0.22" in text
    assert f"{WABA_ID} {NUMBER_C} Marketing Germany 2,000 €1,233.26" in text
    assert text.count(NUMBER_A) == 3
    assert text.count(NUMBER_B) == 1
    assert "Service" not in text
    assert "charged automatically to the payment method saved in your Hub" in text
    assert "PAID" not in text
    assert "Page 1 of 1" in text


def test_partner_plan_invoice_pdf_prints_polish_names_and_the_reverse_charge_note():
    partner = PartnerFactory(
        company_name="Łódź Logistyka sp. z o.o.",
        address_line1="ul. Piotrkowska 104",
        postal_code="90-926",
        city="Łódź",
        country="PL",
        vat_id="PL5252248481",
        currency="EUR",
    )
    note = (
        "Reverse charge: VAT to be accounted for by the recipient (Article 196, Council Directive 2006/112/EC). "
        "Recipient VAT ID: PL5252248481."
    )
    draft = draft_create(
        kind=InvoiceKind.PARTNER_PLAN, party_key=f"partner:{partner.pk}", partner=partner, period_key="2026-11",
        period_start=NOV, period_end=DEC, currency="EUR", net_amount=Decimal("500.00"), total=Decimal("500.00"),
        tax_note=note, billed_company=partner.company_snapshot(),
        lines=[("charge", "Partner Plan Growth, November 2026", "500.00"), ("tax", "VAT 0% (reverse charge)", "0")],
    )  # fmt: skip

    text = pdf_text(invoice_pdf_render(invoice=issue(draft, "INV-2026-000002")))

    assert "Partner Plan Invoice" in text
    assert "Invoice number INV-2026-000002" in text
    assert "Bill to Łódź Logistyka sp. z o.o. ul. Piotrkowska 104 90-926 Łódź Poland VAT ID: PL5252248481" in text
    assert "Billing period 1 Nov 2026 – 30 Nov 2026" in text
    assert "Partner Plan Growth, November 2026 1 €500.00 €500.00 VAT 0% (reverse charge) 1 €0.00 €0.00" in text
    assert "Amount Payable €500.00" in text
    assert note in text
    assert "Hub ID" not in text
    assert "Monthly Summary" not in text


def test_paid_dollar_invoice_pdf_has_the_paid_stamp_and_portuguese_names():
    client = ClientFactory(
        partner=PartnerFactory(currency="USD", country="BR"),
        company_name="Café Olé Comércio Ltda",
        address_line1="Avenida Paulista 1578",
        postal_code="01310-200",
        city="São Paulo",
        country="BR",
    )
    hub = HubFactory(client=client)
    draft = draft_create(
        kind=InvoiceKind.LICENSE, party_key=f"hub:{hub.pk}", hub=hub, client=client, period_key="2026-11",
        period_start=NOV, period_end=DEC, currency="USD", net_amount=Decimal("25.00"), total=Decimal("25.00"),
        tax_note="Not subject to German VAT: place of supply outside the EU.",
        billed_company={**client.company_snapshot(), "hub_id": hub.hub_id},
        lines=[("charge", "License +5511987654321 (Regular), November 2026", "25.00"), ("tax", "VAT 0%", "0")],
    )  # fmt: skip

    text = pdf_text(invoice_pdf_render(invoice=issue(draft, status="paid")))

    assert "License Invoice" in text
    assert "PAID" in text
    assert "Status Paid (1 Nov 2026)" in text
    assert "Café Olé Comércio Ltda Avenida Paulista 1578 01310-200 São Paulo Brazil" in text
    assert f"Hub ID {hub.hub_id}" in text
    assert "License +5511987654321 (Regular), November 2026 1 $25.00 $25.00" in text
    assert "Amount Payable $25.00" in text
    assert "charged automatically" not in text


def test_tax_not_carried_by_a_line_is_printed_above_the_amount_payable(hub):
    draft = draft_create(
        kind=InvoiceKind.LICENSE, party_key=f"hub:{hub.pk}", hub=hub, client=hub.client, period_key="2026-11",
        period_start=NOV, period_end=DEC, currency="EUR", net_amount=Decimal("25.00"), tax_rate=Decimal("0.19"),
        tax_amount=Decimal("4.75"), total=Decimal("29.75"), billed_company=hub.client.company_snapshot(),
        lines=[("charge", "License +4915123456701 (Regular), November 2026", "25.00")],
    )  # fmt: skip

    text = pdf_text(invoice_pdf_render(invoice=issue(draft)))

    assert "(Regular), November 2026 1 €25.00 €25.00 VAT 19% €4.75 Amount Payable €29.75" in text


def test_a_draft_has_no_pdf(hub):
    draft = draft_create(
        kind=InvoiceKind.LICENSE, party_key=f"hub:{hub.pk}", hub=hub, client=hub.client, period_key="2026-11",
        period_start=NOV, period_end=DEC, currency="EUR", net_amount=Decimal("25.00"), total=Decimal("25.00"),
        lines=[("charge", "License", "25.00")],
    )  # fmt: skip

    with pytest.raises(InvoicePdfError, match=f"^Invoice {draft.pk} is a draft: only an issued invoice has a PDF.$"):
        invoice_pdf_render(invoice=draft)


def test_storing_the_pdf_writes_the_file_and_only_the_pdf_column_of_the_issued_invoice(hub, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    invoice = month_closing_invoice(hub)

    invoice_pdf_store(invoice=invoice)

    stored = Invoice.objects.get(pk=invoice.pk)
    assert re.fullmatch(r"invoices/\d{4}/\d{2}/INV-2026-000001\.pdf", stored.pdf.name)
    assert (tmp_path / stored.pdf.name).read_bytes().startswith(b"%PDF")
    assert "Amount Payable €36.82" in pdf_text((tmp_path / stored.pdf.name).read_bytes())
    assert (stored.total, stored.status) == (Decimal("36.82"), "pending")


def test_invoice_pdf_command_writes_the_pdf_of_an_invoice_number(hub, tmp_path):
    month_closing_invoice(hub)
    output = tmp_path / "invoice.pdf"

    call_command("invoice_pdf", "INV-2026-000001", output=str(output), stdout=io.StringIO())

    data = output.read_bytes()
    assert data.startswith(b"%PDF")
    assert "INV-2026-000001" in pdf_text(data)


def test_invoice_pdf_command_refuses_an_unknown_number(tmp_path):
    with pytest.raises(CommandError, match="^No invoice or credit note numbered INV-2026-999999.$"):
        call_command("invoice_pdf", "INV-2026-999999", output=str(tmp_path / "x.pdf"))
    assert not (tmp_path / "x.pdf").exists()


def test_every_page_says_its_number_and_the_total_from_one_layout_pass():
    # given a document three pages long in the invoice styles, laid out once (no <pdf:pagecount>, no second pass)
    from billing.pdf import invoice_html_pdf

    body = "".join(f"<p>Row {n}</p>" for n in range(150))
    data = invoice_html_pdf(html=f"<html><body>{body}</body></html>", labels=("Seite %(page)s von ", ""), number="X")
    pages = PdfReader(io.BytesIO(data)).pages
    # then each page carries its own number and the total, which was only known at the end
    assert len(pages) == 3
    texts = [" ".join(page.extract_text().split()) for page in pages]
    assert "Seite 1 von 3" in texts[0]
    assert "Seite 2 von 3" in texts[1]
    assert "Seite 3 von 3" in texts[2]
