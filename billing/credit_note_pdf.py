"""Credit note PDFs: `templates/pdf/credit_note.html` rendered by xhtml2pdf like an invoice's (same fonts, same
confinement of local reads), with the credit note's EN 16931 XML (type 381, referring to its invoice) inside.
Rendered when asked for: a credit note is immutable, so the same request always gives the same document."""

from django.template.loader import render_to_string

from billing.einvoice import einvoice_embed
from billing.einvoice.document import credit_note_split
from billing.einvoice.seller import seller
from billing.einvoice.tax_cases import invoice_tax_case
from billing.markets import COUNTRY_NAMES
from billing.models import CreditNote
from billing.pdf import date_format, invoice_default_css, money_format, xhtml_pdf


def credit_note_pdf_context(credit_note: CreditNote) -> dict:
    invoice = credit_note.invoice
    company = invoice.billed_company or {}
    net, tax = credit_note_split(credit_note)
    case = invoice_tax_case(invoice)
    town = " ".join(part for part in (company.get("postal_code", ""), company.get("city", "")) if part)
    return {
        "provider": seller(),
        "number": credit_note.number,
        "issue_date": date_format(credit_note.issued_at),
        "invoice_number": invoice.number,
        "invoice_date": date_format(invoice.issued_at),
        "reason": credit_note.reason,
        "company": {
            "name": company.get("company_name", ""),
            "address_lines": [x for x in (company.get("address_line1"), company.get("address_line2"), town) if x],
            "country": COUNTRY_NAMES.get(company.get("country", ""), company.get("country", "")),
            "vat_id": company.get("vat_id", ""),
        },
        "net": money_format(net, credit_note.currency),
        "tax_label": f"VAT {case.rate_percent.normalize():f}%" if case.rate_percent else "VAT 0%",
        "tax": money_format(tax, credit_note.currency),
        "total": money_format(credit_note.amount, credit_note.currency),
        "tax_note": invoice.tax_note,
    }


def credit_note_pdf_render(*, credit_note: CreditNote) -> bytes:
    html = render_to_string("pdf/credit_note.html", credit_note_pdf_context(credit_note))
    pdf = xhtml_pdf(html=html, number=credit_note.number, default_css=invoice_default_css())  # the invoice's styles
    return einvoice_embed(pdf, credit_note=credit_note)
