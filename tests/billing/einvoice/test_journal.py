"""The month's journal for the accountant (CSV and DATEV Buchungsstapel): one row per document and VAT rate, its
sums equal to the month's invoices and credit notes."""

import csv
import html
import io
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from billing.invoicing.partner_plans import partner_plan_issue
from billing.invoicing.settlement import credit_note_issue, invoice_void
from billing.journal import JournalError, journal_export
from billing.models import ExchangeRate, Invoice, PaymentMethod, PaymentMethodKind
from tests.billing.einvoice.conftest import ISSUED_AT, NOV, OCT, issue_kind
from tests.factories import PartnerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def november(now):
    """A German license invoice (S), a French reverse-charge one (AE), a US partner's plan (O), a credit note on
    the German one and the French one voided."""
    german = issue_kind("LICENSE", "S-DE", now)
    french = issue_kind("LICENSE", "AE", now)
    plan = issue_kind("PARTNER_PLAN", "O", now)
    note = credit_note_issue(invoice=german, amount=Decimal("11.90"), reason="Number down")
    invoice_void(invoice=french, reason="Issued twice by mistake")
    return german, french, plan, note


def csv_rows(data: bytes) -> list[dict]:
    assert data.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def test_the_csv_has_a_row_per_document_and_its_sums_equal_the_months_documents(november):
    german, french, plan, note = november

    rows = csv_rows(journal_export(month=NOV, file_format="csv"))

    assert [(r["document"], r["type"], r["tax_case"], r["net"], r["vat"], r["gross"]) for r in rows] == [
        (german.number, "LICENSE", "S", f"{german.net_amount + german.fee_amount}", f"{german.tax_amount}",
         f"{german.total}"),
        (french.number, "LICENSE", "AE", f"{french.total}", "0.00", f"{french.total}"),
        (plan.number, "PARTNER_PLAN", "O", f"{plan.total}", "0.00", f"{plan.total}"),
        (french.number, "VOID", "AE", f"-{french.total}", "0.00", f"-{french.total}"),
        (note.number, "CREDIT_NOTE", "S", "-10.00", "-1.90", "-11.90"),
    ]  # fmt: skip
    issued = sum((i.total for i in Invoice.objects.exclude(number=None)), Decimal(0))
    assert sum(Decimal(r["gross"]) for r in rows) == issued - french.total - note.amount
    french_row = rows[1]
    assert (french_row["vat_id"], french_row["revenue_account"], french_row["receivables_account"]) == (
        "FR40303265045", "8336", "10000",
    )
    assert rows[4]["credited_invoice"] == german.number
    assert {r["currency"] for r in rows} == {"EUR"}


def test_the_datev_file_is_an_extf_buchungsstapel(november, now):
    german, french, plan, note = november

    data = journal_export(month=NOV, file_format="datev")

    lines = data.decode("cp1252").split("\r\n")
    header = lines[0].split(";")
    assert header[:5] == ['"EXTF"', "700", "21", '"Buchungsstapel"', "13"]
    assert header[10:16] == ["1001", "1", "20260101", "4", "20261101", "20261130"]
    assert len(header) == 31
    assert lines[1].startswith("Umsatz (ohne Soll/Haben-Kz);Soll/Haben-Kennzeichen;WKZ Umsatz;")
    first = lines[2].split(";")
    assert first[0] == f"{german.total}".replace(".", ",")
    assert first[1] == '"S"' and first[6:8] == ["10000", "8400"] and first[9] == "0111"
    assert first[10] == f'"{german.number}"'
    credit = lines[6].split(";")
    assert (credit[0], credit[1], credit[10]) == ("11,90", '"H"', f'"{note.number}"')
    assert lines[-1] == "" and len(lines) == 8


def test_the_command_writes_the_journal_and_refuses_a_bad_month(november, tmp_path):
    out = io.StringIO()

    call_command("journal_export", month="2026-11", output=str(tmp_path / "j.csv"), stdout=out)
    with pytest.raises(CommandError, match="^--month must be YYYY-MM, got '11/2026'.$"):
        call_command("journal_export", month="11/2026", output=str(tmp_path / "x.csv"))

    assert out.getvalue() == f"Wrote 5 row(s) for 2026-11 as csv to {tmp_path / 'j.csv'}.\n"
    assert len(csv_rows((tmp_path / "j.csv").read_bytes())) == 5
    assert not (tmp_path / "x.csv").exists()


def test_staff_download_the_journal_from_the_invoice_list(november, admin_client):
    listing = admin_client.get("/admin/billing/invoice/").content.decode()
    response = admin_client.get("/admin/billing/invoice/journal-export/", {"month": "2026-11", "file_format": "datev"})
    refused = admin_client.get("/admin/billing/invoice/journal-export/", {"month": "nov", "file_format": "csv"})

    assert 'href="/admin/billing/invoice/journal-export/"' in listing
    assert response["Content-Disposition"] == 'attachment; filename="EXTF_Buchungsstapel_2026-11.csv"'
    assert response.content.startswith(b'"EXTF";700;21;"Buchungsstapel"')
    assert "Enter a month as YYYY-MM, e.g. 2026-11." in refused.content.decode()


def test_staff_download_a_credit_notes_pdf_and_xml(november, admin_client):
    note = november[3]

    listing = admin_client.get("/admin/billing/creditnote/").content.decode()
    pdf = admin_client.get(f"/admin/billing/creditnote/{note.pk}/file/pdf/")
    xml = admin_client.get(f"/admin/billing/creditnote/{note.pk}/file/xml/")

    assert f'href="/admin/billing/creditnote/{note.pk}/file/xml/"' in listing
    assert pdf["Content-Disposition"] == f'attachment; filename="{note.number}.pdf"'
    assert pdf.content.startswith(b"%PDF")
    assert xml["Content-Disposition"] == f'attachment; filename="{note.number}-factur-x.xml"'
    assert b"<ram:TypeCode>381</ram:TypeCode>" in xml.content


def test_staff_download_an_invoices_xml_from_the_list(november, admin_client):
    german = november[0]

    listing = admin_client.get("/admin/billing/invoice/").content.decode()
    xml = admin_client.get(f"/admin/billing/invoice/{german.pk}/xml/")

    assert f'href="/admin/billing/invoice/{german.pk}/xml/"' in listing
    assert xml["Content-Disposition"] == f'attachment; filename="{german.number}-factur-x.xml"'
    assert f"<ram:ID>{german.number}</ram:ID>".encode() in xml.content


@pytest.fixture
def dollar_plan(now):
    """A US partner billed in dollars: its November Partner Plan invoice."""
    partner = PartnerFactory(country="US", vat_id="", currency="USD", company_name="Resell Inc")
    PaymentMethod.objects.create(partner=partner, kind=PaymentMethodKind.CARD, position=0)
    (invoice,) = partner_plan_issue(partner_ids=[partner.id], month=NOV, issued_at=ISSUED_AT)
    assert (invoice.currency, invoice.total > 0) == ("USD", True)
    return invoice


def test_a_dollar_document_is_booked_with_the_months_rate_and_its_euro_amount(november, dollar_plan):
    ExchangeRate.objects.create(currency="USD", month=NOV, rate=Decimal("1.085000"), source="BMF 11/2026")
    euros = (dollar_plan.total / Decimal("1.085")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    datev = journal_export(month=NOV, file_format="datev").decode("cp1252").split("\r\n")
    rows = csv_rows(journal_export(month=NOV, file_format="csv"))

    (booking,) = [line.split(";") for line in datev[2:] if f'"{dollar_plan.number}"' in line]
    assert booking[:6] == [f"{dollar_plan.total}".replace(".", ","), '"S"', '"USD"', "1,085000",
                           f"{euros}".replace(".", ","), '"EUR"']  # fmt: skip
    german = datev[2].split(";")
    assert german[2:6] == ['"EUR"', "", "", '""']  # a euro booking carries no rate
    (dollar_row,) = [r for r in rows if r["document"] == dollar_plan.number]
    assert (dollar_row["currency"], dollar_row["eur_rate"], dollar_row["gross_eur"]) == (
        "USD", "1.085000", f"{euros}")
    assert {(r["eur_rate"], r["gross_eur"]) for r in rows if r["currency"] == "EUR"} == {
        ("1.000000", r["gross"]) for r in rows if r["currency"] == "EUR"}


def test_without_the_months_rate_datev_is_refused_by_name_and_the_csv_leaves_it_empty(
    november, dollar_plan, admin_client, tmp_path
):
    ExchangeRate.objects.create(currency="USD", month=OCT, rate=Decimal("1.090000"))  # another month's rate
    message = ("No exchange rate for USD in 2026-11: DATEV books a foreign-currency document with its euro amount. "
               "Enter the month's rate under Admin → Exchange rates, then export again.")  # fmt: skip

    with pytest.raises(JournalError) as refused:
        journal_export(month=NOV, file_format="datev")
    with pytest.raises(CommandError) as command:
        call_command("journal_export", month="2026-11", output=str(tmp_path / "j.csv"), format="datev")
    page = admin_client.get("/admin/billing/invoice/journal-export/", {"month": "2026-11", "file_format": "datev"})
    rows = csv_rows(journal_export(month=NOV, file_format="csv"))

    assert str(refused.value) == str(command.value) == message
    assert not (tmp_path / "j.csv").exists()
    assert page.status_code == 200 and page.get("Content-Disposition") is None
    assert message in html.unescape(page.content.decode())
    (dollar_row,) = [r for r in rows if r["document"] == dollar_plan.number]
    assert (dollar_row["eur_rate"], dollar_row["gross_eur"]) == ("", "")


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"currency": "EUR", "month": NOV}, {"currency": ["The euro is the books' own currency: it needs no rate."]}),
        ({"currency": "USD", "month": NOV.replace(day=15)}, {"month": ["Give the first day of the month."]}),
        ({"currency": "USD", "month": NOV, "rate": Decimal("0")}, {"rate": ["Ensure this value is greater than or "
                                                                            "equal to 0.000001."]}),
    ],
)
def test_staff_cannot_enter_a_rate_that_would_book_wrong_amounts(fields, errors):
    rate = ExchangeRate(**{"rate": Decimal("1.1"), **fields})

    with pytest.raises(ValidationError) as invalid:
        rate.full_clean()

    assert invalid.value.message_dict == errors
    assert not ExchangeRate.objects.exists()
