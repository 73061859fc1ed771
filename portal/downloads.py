"""Downloads both hubs share: an invoice's e-invoice XML, a credit note's PDF and XML. The caller has found the
document inside the signed-in party (404 otherwise); these only answer with the file."""

from django.http import Http404, HttpResponse

from billing.credit_note_pdf import credit_note_pdf_render
from billing.einvoice import SYNTAX_FACTURX, EInvoiceUnavailable, credit_note_xml, einvoice_filename, invoice_xml
from billing.models import CreditNote, Invoice


def _attachment(data: bytes, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def invoice_xml_response(invoice: Invoice, syntax: str | None) -> HttpResponse:
    syntax = syntax or SYNTAX_FACTURX
    try:
        data = invoice_xml(invoice=invoice, syntax=syntax)
    except EInvoiceUnavailable as error:
        raise Http404(str(error)) from error
    return _attachment(data, einvoice_filename(invoice.number, syntax), "application/xml")


def credit_note_pdf_response(credit_note: CreditNote) -> HttpResponse:
    return _attachment(credit_note_pdf_render(credit_note=credit_note), f"{credit_note.number}.pdf", "application/pdf")


def credit_note_xml_response(credit_note: CreditNote, syntax: str | None) -> HttpResponse:
    syntax = syntax or SYNTAX_FACTURX
    try:
        data = credit_note_xml(credit_note=credit_note, syntax=syntax)
    except EInvoiceUnavailable as error:
        raise Http404(str(error)) from error
    return _attachment(data, einvoice_filename(credit_note.number, syntax), "application/xml")
