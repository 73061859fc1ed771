"""Invoice PDFs: `templates/pdf/invoice.html` rendered by xhtml2pdf on A4 and stored on the invoice.

DejaVu Sans is embedded (static/fonts) because the PDF base fonts have no glyphs beyond Latin-1: no €, no "Ł".
Every figure printed is rounded half-up to cents (DESIGN.md, Money).
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from io import BytesIO
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.db.models import Count, Sum
from django.template.loader import render_to_string
from django.utils import dateformat
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy

from billing.einvoice import einvoice_embed
from billing.einvoice.seller import Seller, seller
from billing.models import Invoice, InvoiceKind, InvoiceLine, InvoiceStatus
from billing.money import cents
from hub.markets import COUNTRY_NAMES, market_label
from hub.models import Category, MessageUsage

CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$"}
MINUS = "\u2212"  # a real minus sign: a hyphen before an amount is easy to miss on paper
# The Monthly Summary of a Month Closing Invoice: the seed's labels, in the seed's order.
SUMMARY_LABELS = (
    ("starting_balance", "Starting Balance"),
    ("total_added_funds", "Total Added Funds"),
    ("total_usage", "Total Usage"),
    ("total_refunds", "Total Refunds"),
    ("ending_balance", "Ending Balance"),
    ("usage_reconciliation", "Usage Reconciliation"),
)
STAMPS = {InvoiceStatus.PAID: "PAID", InvoiceStatus.VOID: "VOID"}


class InvoicePdfError(Exception):
    """The invoice has no PDF (it is a draft), or xhtml2pdf could not render it."""


@dataclass(frozen=True)
class UsageRow:
    """Billable usage of one WABA × phone number × category × market in a billing period."""

    waba_id: str
    phone_number: str
    category: str
    market: str
    messages: int
    cost: Decimal  # rounded half-up to cents

    @property
    def category_label(self) -> str:
        return str(Category(self.category).label) if self.category in Category.values else self.category

    @property
    def market_label(self) -> str:
        return market_label(self.market)


def font_dir() -> Path:
    return Path(settings.BASE_DIR) / "static" / "fonts"


def money_format(amount: Decimal | str, currency: str) -> str:
    """'€1,234.50', '$25.00', '−€50.00': half-up to cents, symbol first, minus before the symbol."""
    value = cents(Decimal(amount))
    sign = MINUS if value < 0 else ""
    symbol = CURRENCY_SYMBOLS.get(currency, f"{currency} ")
    return f"{sign}{symbol}{abs(value):,.2f}"


def date_format(day: dt.date | dt.datetime | None) -> str:
    """'1 Oct 2026'; a moment is shown as its UTC date (billing runs on UTC)."""
    if day is None:
        return ""
    if isinstance(day, dt.datetime):
        day = day.astimezone(dt.UTC).date()
    return dateformat.format(day, "j M Y")


def quantity_format(quantity: Decimal) -> str:
    """1.0000 → '1', 2.5000 → '2.5', 1200 → '1,200'."""
    return f"{quantity.normalize():,f}"


def pdf_link_callback(uri: str, rel: str | None = None) -> str:
    """The local file a template's url() names. Only files under static/fonts are allowed: an invoice render
    never reads anything else and never touches the network."""
    path = Path(uri.removeprefix("file://"))
    if not path.is_absolute():
        path = font_dir() / path
    path = path.resolve()
    if not path.is_relative_to(font_dir().resolve()) or not path.is_file():
        raise InvoicePdfError(f"Invoice PDF asset {uri!r} is not a file under {font_dir()}.")
    return str(path)


def usage_breakdown(invoice: Invoice) -> list[UsageRow]:
    """The hub's billable usage in the invoice's period, one row per WABA × number × category × market.

    One GROUP BY query: a month of millions of messages prints as a few dozen rows, never one per message.
    Each row's cost is its exact sum rounded half-up to cents."""
    if invoice.hub_id is None:
        return []
    rows = (
        MessageUsage.objects.filter(hub_id=invoice.hub_id, billable=True, period=invoice.period_start)
        .values_list("waba__meta_waba_id", "phone_number__e164", "category", "market")
        .annotate(messages=Count("id"), cost=Sum("cost"))
        .order_by("waba__meta_waba_id", "phone_number__e164", "category", "market")
    )
    return [
        UsageRow(waba, number, category, market, n, cents(cost)) for waba, number, category, market, n, cost in rows
    ]


def _provider() -> Seller:
    """The seller as the e-invoice names it (billing/einvoice/seller.py): one source for both."""
    return seller()


def _company(snapshot: dict) -> dict:
    country = snapshot.get("country", "")
    town = " ".join(part for part in (snapshot.get("postal_code", ""), snapshot.get("city", "")) if part)
    return {
        "name": snapshot.get("company_name", ""),
        "address_lines": [
            line for line in (snapshot.get("address_line1"), snapshot.get("address_line2"), town) if line
        ],
        "country": COUNTRY_NAMES.get(country, country),
        "vat_id": snapshot.get("vat_id", ""),
        "email": snapshot.get("billing_email", ""),
    }


def _line_rows(lines: list[InvoiceLine], currency: str) -> list[dict]:
    return [
        {
            "description": line.description,
            "quantity": quantity_format(line.quantity),
            "unit_amount": money_format(line.unit_amount, currency),
            "amount": money_format(line.amount, currency),
        }
        for line in lines
    ]


def _tax_row(invoice: Invoice, lines: list[InvoiceLine]) -> dict | None:
    """The VAT row of the totals, for an invoice whose lines do not carry the tax themselves."""
    if invoice.tax_amount == 0 or any(line.role == InvoiceLine.Role.TAX for line in lines):
        return None
    rate = f"{(invoice.tax_rate * 100).normalize():f}"
    return {"label": f"VAT {rate}%", "amount": money_format(invoice.tax_amount, invoice.currency)}


def _month_closing(invoice: Invoice) -> dict:
    summary = invoice.summary or {}
    rows = [(label, money_format(summary.get(key, "0"), invoice.currency)) for key, label in SUMMARY_LABELS]
    usage = [
        {
            "waba_id": row.waba_id,
            "phone_number": row.phone_number,
            "category": row.category_label,
            "market": row.market_label,
            "messages": f"{row.messages:,}",
            "cost": money_format(row.cost, invoice.currency),
        }
        for row in usage_breakdown(invoice)
    ]
    return {"summary_rows": rows, "usage_rows": usage}


def invoice_pdf_context(invoice: Invoice) -> dict:
    lines = list(invoice.lines.order_by("position"))
    company = invoice.billed_company or {}
    is_mci = invoice.kind == InvoiceKind.MONTH_CLOSING
    context = {
        "fonts": font_dir(),
        "provider": _provider(),
        "title": invoice.get_kind_display(),
        "number": invoice.number,
        "issue_date": date_format(invoice.issued_at),
        "due_date": date_format(invoice.due_date),
        "billing_period": f"{date_format(invoice.period_start)} – "
        f"{date_format(invoice.period_end - dt.timedelta(days=1))}",
        "status": invoice.get_status_display(),
        "stamp": STAMPS.get(invoice.status),
        "paid_date": date_format(invoice.paid_at),
        "hub_id": (invoice.summary or {}).get("hub_id") or company.get("hub_id", ""),
        "company": _company(company),
        "lines": _line_rows(lines, invoice.currency),
        "tax_row": _tax_row(invoice, lines),
        "amount_payable": money_format(invoice.total, invoice.currency),
        "tax_note": invoice.tax_note,
        "charged_automatically": invoice.pays_by_card
        and invoice.total > 0
        and invoice.status in (InvoiceStatus.PENDING, InvoiceStatus.UNPAID),
        "is_mci": is_mci,
        "pays_by_card": invoice.pays_by_card,
        "amount_payable_due": invoice.total > 0,
    }
    if is_mci:
        context.update(_month_closing(invoice))
    return context


def invoice_pdf_render(*, invoice: Invoice) -> bytes:
    """The invoice as an A4 PDF. Raises InvoicePdfError for a draft or when xhtml2pdf reports errors."""
    if invoice.number is None or invoice.status == InvoiceStatus.DRAFT:
        raise InvoicePdfError(f"Invoice {invoice.pk} is a draft: only an issued invoice has a PDF.")
    html = render_to_string("pdf/invoice.html", invoice_pdf_context(invoice))
    output = BytesIO()
    # Local reads confined to the fonts, no network: the template is ours, but the billed company's name is not.
    policy = ResourceAccessPolicy(base_dir=font_dir(), allow_remote=False)
    result = pisa.CreatePDF(
        html, dest=output, encoding="utf-8", link_callback=pdf_link_callback, resource_policy=policy
    )
    if result.err:
        problems = "; ".join(str(entry[2]) for entry in result.log if entry[0] == "error") or "see the xhtml2pdf log"
        raise InvoicePdfError(
            f"xhtml2pdf reported {result.err} error(s) rendering invoice {invoice.number}: {problems}"
        )
    return einvoice_embed(output.getvalue(), invoice=invoice)


def invoice_pdf_store(*, invoice: Invoice) -> None:
    """Render the invoice and keep the file on it. Only the pdf column is written: it may change after issue."""
    data = invoice_pdf_render(invoice=invoice)
    invoice.pdf.save(f"{invoice.number}.pdf", ContentFile(data), save=False)
    Invoice.objects.filter(pk=invoice.pk).update(pdf=invoice.pdf.name)
