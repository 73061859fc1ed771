"""Entry points of the e-invoices: the XML of an issued invoice or credit note in either syntax, and the PDF with
its XML inside (called where the invoice PDF is rendered, billing/pdf.py)."""

from billing.einvoice.cii import cii_xml
from billing.einvoice.document import EDocument, credit_note_document, invoice_document
from billing.einvoice.embed import pdf_with_xml
from billing.einvoice.texts import einvoice_language
from billing.einvoice.xrechnung import XRechnungUnavailable, xrechnung_xml
from billing.models import CreditNote, Invoice, InvoiceStatus

SYNTAX_FACTURX = "factur-x"
SYNTAX_XRECHNUNG = "xrechnung"
SYNTAXES = (SYNTAX_FACTURX, SYNTAX_XRECHNUNG)


class EInvoiceUnavailable(Exception):
    """No e-invoice of this kind exists: a draft, or XRechnung for a buyer without a Leitweg-ID."""


def _issued(invoice: Invoice) -> None:
    if invoice.number is None or invoice.status == InvoiceStatus.DRAFT:
        raise EInvoiceUnavailable(f"Invoice {invoice.pk} is a draft: only an issued invoice has an e-invoice.")


def _xml(document: EDocument, syntax: str) -> bytes:
    if syntax not in SYNTAXES:
        raise EInvoiceUnavailable(f"Unknown e-invoice syntax {syntax!r}: use {' or '.join(SYNTAXES)}.")
    if syntax == SYNTAX_FACTURX:
        return cii_xml(document)
    try:
        return xrechnung_xml(document)
    except XRechnungUnavailable as exc:
        raise EInvoiceUnavailable(str(exc)) from exc


def invoice_xml(*, invoice: Invoice, syntax: str = SYNTAX_FACTURX) -> bytes:
    _issued(invoice)
    return _xml(invoice_document(invoice), syntax)


def credit_note_xml(*, credit_note: CreditNote, syntax: str = SYNTAX_FACTURX) -> bytes:
    return _xml(credit_note_document(credit_note), syntax)


def einvoice_filename(number: str, syntax: str) -> str:
    return f"{number}-xrechnung.xml" if syntax == SYNTAX_XRECHNUNG else f"{number}-factur-x.xml"


def einvoice_embed(pdf: bytes, *, invoice: Invoice | None = None, credit_note: CreditNote | None = None) -> bytes:
    """The rendered PDF as a Factur-X PDF/A-3 carrying the document's EN 16931 XML."""
    if credit_note is not None:
        document, language = credit_note_document(credit_note), einvoice_language(credit_note.invoice)
    else:
        _issued(invoice)
        document, language = invoice_document(invoice), einvoice_language(invoice)
    return pdf_with_xml(pdf, xml=cii_xml(document), document=document, language=language)


def document_by_number(number: str) -> Invoice | CreditNote | None:
    """An issued invoice (INV-…) or a credit note (CN-…) by its number."""
    if number.startswith("CN-"):
        return CreditNote.objects.select_related("invoice").filter(number=number).first()
    return Invoice.objects.filter(number=number).first()
