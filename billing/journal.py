"""The accountant's journal of a month: every invoice and credit note issued in it, one row per document and VAT
rate (every document here has one rate), with net, VAT and gross as printed, the customer, its VAT ID, the tax case
(the e-invoice's VAT category) and the accounts from settings. A voided invoice stays in the month it was issued
and gets a reversal row in the month it was voided, so each month's journal balances against its documents.

Two formats: CSV (UTF-8 with BOM, for a spreadsheet), and DATEV's Buchungsstapel (format EXTF 700, data category
21, version 13): a header line, a column-name line, one booking per row, semicolon-separated, decimal comma,
Windows-1252, CRLF. Each booking debits the customers' receivables account with the gross amount against the
revenue account of its tax case (SKR03 automatic accounts: 8400 computes the 19 % VAT itself, so no BU key).

A document in another currency than the euro (a USD partner's plan) is booked as DATEV wants a foreign-currency
booking: the amount in its currency (WKZ Umsatz), the rate (Kurs: units of the currency per 1 EUR, six decimals)
and the euro amount (Basis-Umsatz, WKZ Basis-Umsatz EUR), with the month's rate staff entered (Admin → Exchange
rates: the BMF's monthly VAT conversion rate of the document's month). The DATEV export refuses a month that has
such a document without its rate, naming the currency and month; the CSV carries the rate and the euro amount when
there is one and leaves them empty otherwise."""

import csv
import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.utils.translation import gettext as _

from billing.einvoice.document import credit_note_split
from billing.einvoice.tax_cases import invoice_tax_case
from billing.models import CreditNote, ExchangeRate, Invoice, InvoiceStatus
from billing.money import cents
from core import clock


class JournalError(ValueError):
    """The month cannot be exported in this format, with the reason staff can act on."""

CSV_COLUMNS = (
    "document", "type", "issue_date", "credited_invoice", "customer", "country", "vat_id", "tax_case", "vat_rate",
    "net", "vat", "gross", "currency", "eur_rate", "gross_eur", "revenue_account", "receivables_account", "status",
)  # fmt: skip
DATEV_COLUMNS = (
    "Umsatz (ohne Soll/Haben-Kz)", "Soll/Haben-Kennzeichen", "WKZ Umsatz", "Kurs", "Basis-Umsatz",
    "WKZ Basis-Umsatz", "Konto", "Gegenkonto (ohne BU-Schlüssel)", "BU-Schlüssel", "Belegdatum", "Belegfeld 1",
    "Belegfeld 2", "Skonto", "Buchungstext",
)  # fmt: skip


@dataclass(frozen=True)
class JournalRow:
    document: str
    kind: str  # the invoice kind, CREDIT_NOTE or VOID (the reversal of a voided invoice)
    issue_date: dt.date
    credited_invoice: str
    customer: str
    country: str
    vat_id: str
    tax_case: str
    vat_rate: Decimal
    net: Decimal  # negative on a credit note or a reversal
    vat: Decimal
    gross: Decimal
    currency: str
    revenue_account: str
    status: str
    eur_rate: Decimal | None = None  # units of `currency` per 1 EUR (1 for EUR); None: no rate entered for the month

    @property
    def gross_eur(self) -> Decimal | None:
        """The gross amount in euros at the month's rate, half-up to the cent."""
        return None if self.eur_rate is None else cents(self.gross / self.eur_rate) + 0

    def values(self) -> tuple:
        rate, gross_eur = self.eur_rate, self.gross_eur
        return (
            self.document, self.kind, self.issue_date.isoformat(), self.credited_invoice, self.customer, self.country,
            self.vat_id, self.tax_case, f"{self.vat_rate * 100:.2f}", f"{self.net:.2f}", f"{self.vat:.2f}",
            f"{self.gross:.2f}", self.currency, "" if rate is None else f"{rate:.6f}",
            "" if gross_eur is None else f"{gross_eur:.2f}", self.revenue_account,
            settings.JOURNAL_RECEIVABLES_ACCOUNT, self.status,
        )  # fmt: skip


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return clock.period_bounds(month.replace(day=1))


def _row(invoice: Invoice, document: str, kind: str, day: dt.date, sign: int, amounts, credited="", status="",
         rates=None):
    company, case = invoice.billed_company or {}, invoice_tax_case(invoice)
    rate = Decimal(1) if invoice.currency == "EUR" else (rates or {}).get((invoice.currency, day.replace(day=1)))
    net, vat = amounts
    return JournalRow(
        document=document, kind=kind, issue_date=day, credited_invoice=credited,
        customer=company.get("company_name", ""), country=company.get("country", ""),
        vat_id=company.get("vat_id", ""), tax_case=case.category, vat_rate=invoice.tax_rate,
        net=sign * net + 0, vat=sign * vat + 0, gross=sign * (net + vat) + 0, currency=invoice.currency,  # no -0.00
        revenue_account=settings.JOURNAL_ACCOUNTS[case.category], status=status or invoice.status, eur_rate=rate,
    )  # fmt: skip


def _day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(dt.UTC).date()


def journal_rows(*, month: dt.date) -> list[JournalRow]:
    """The month's rows in the order the documents were issued."""
    start, end = month_bounds(month)
    rates = {(r.currency, r.month): r.rate for r in ExchangeRate.objects.filter(month=month.replace(day=1))}
    rows = []
    issued = Invoice.objects.filter(issued_at__gte=start, issued_at__lt=end).exclude(status=InvoiceStatus.DRAFT)
    for invoice in issued.order_by("issued_at", "number"):
        amounts = (invoice.net_amount + invoice.fee_amount, invoice.tax_amount)
        rows.append(_row(invoice, invoice.number, invoice.kind, _day(invoice.issued_at), 1, amounts, rates=rates))
    voided = Invoice.objects.filter(voided_at__gte=start, voided_at__lt=end, status=InvoiceStatus.VOID)
    for invoice in voided.order_by("voided_at", "number"):
        amounts = (invoice.net_amount + invoice.fee_amount, invoice.tax_amount)
        rows.append(_row(invoice, invoice.number, "VOID", _day(invoice.voided_at), -1, amounts, invoice.number,
                         rates=rates))  # fmt: skip
    notes = CreditNote.objects.filter(issued_at__gte=start, issued_at__lt=end).select_related("invoice")
    for note in notes.order_by("issued_at", "number"):
        rows.append(
            _row(note.invoice, note.number, "CREDIT_NOTE", _day(note.issued_at), -1, credit_note_split(note),
                 note.invoice.number, "issued", rates=rates)  # fmt: skip
        )
    order = {"VOID": 1, "CREDIT_NOTE": 2}  # a day's invoices, then its reversals, then its credit notes
    return sorted(rows, key=lambda row: (row.issue_date, order.get(row.kind, 0), row.document))


def journal_csv(rows: list[JournalRow]) -> bytes:
    output = io.StringIO()
    writer = csv.writer(output, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(row.values() for row in rows)
    return ("\ufeff" + output.getvalue()).encode("utf-8")  # the BOM makes spreadsheets read UTF-8


def _datev_amount(value: Decimal) -> str:
    return f"{abs(value):.2f}".replace(".", ",")


def _datev_text(value: str, length: int) -> str:
    return '"' + value.replace('"', "'")[:length] + '"'


def _datev_timestamp(moment: dt.datetime) -> str:
    """YYYYMMDDHHMMSSFFF (milliseconds), in UTC."""
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y%m%d%H%M%S") + f"{moment.microsecond // 1000:03d}"


def datev_header(*, month: dt.date, created: dt.datetime) -> str:
    start, end = month_bounds(month)
    last_day = _day(end) - dt.timedelta(days=1)
    fields = [
        '"EXTF"', "700", "21", '"Buchungsstapel"', "13", _datev_timestamp(created),
        "", '"RE"', '""', '""', settings.JOURNAL_DATEV_CONSULTANT, settings.JOURNAL_DATEV_CLIENT,
        f"{start:%Y}0101", str(settings.JOURNAL_DATEV_ACCOUNT_LENGTH), f"{start:%Y%m%d}", f"{last_day:%Y%m%d}",
        _datev_text(f"Rechnungsausgang {start:%m/%Y}", 30), '""', "1", "0", "0", '"EUR"', "", '""', "", "",
        '"03"', "", "", '""', '""',
    ]  # fmt: skip
    return ";".join(fields)


def _datev_rate(rate: Decimal) -> str:
    return f"{rate:.6f}".replace(".", ",")


def _datev_booking(row: JournalRow) -> str:
    foreign = row.currency != "EUR"
    rate = _datev_rate(row.eur_rate) if foreign else ""
    base = _datev_amount(row.gross_eur) if foreign else ""
    fields = [
        _datev_amount(row.gross), '"S"' if row.gross >= 0 else '"H"', _datev_text(row.currency, 3), rate, base,
        '"EUR"' if foreign else '""',
        settings.JOURNAL_RECEIVABLES_ACCOUNT, row.revenue_account, '""', f"{row.issue_date:%d%m}",
        _datev_text(row.document, 36), _datev_text(row.credited_invoice, 12), "", _datev_text(row.customer, 60),
    ]  # fmt: skip
    return ";".join(fields)


def journal_datev(rows: list[JournalRow], *, month: dt.date, created: dt.datetime) -> bytes:
    missing = sorted({row.currency for row in rows if row.eur_rate is None})
    if missing:
        raise JournalError(
            _("No exchange rate for %(currencies)s in %(month)s: DATEV books a foreign-currency document with its "
              "euro amount. Enter the month's rate under Admin → Exchange rates, then export again.")
            % {"currencies": ", ".join(missing), "month": f"{month:%Y-%m}"}
        )  # fmt: skip
    lines = [datev_header(month=month, created=created), ";".join(DATEV_COLUMNS)]
    lines += [_datev_booking(row) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode("cp1252", errors="replace")


JOURNAL_FORMATS = ("csv", "datev")


def journal_export(*, month: dt.date, file_format: str = "csv") -> bytes:
    rows = journal_rows(month=month)
    if file_format == "datev":
        return journal_datev(rows, month=month, created=clock.now())
    return journal_csv(rows)
