"""EN 16931 e-invoices of every issued invoice and credit note: Factur-X / ZUGFeRD (EN 16931 profile) embedded in
the PDF, and XRechnung (CII) for buyers with a Leitweg-ID. See README, "E-invoices"."""

from billing.einvoice.service import (
    SYNTAX_FACTURX,
    SYNTAX_XRECHNUNG,
    SYNTAXES,
    EInvoiceUnavailable,
    credit_note_xml,
    einvoice_embed,
    einvoice_filename,
    invoice_xml,
)

__all__ = [
    "SYNTAX_FACTURX", "SYNTAX_XRECHNUNG", "SYNTAXES", "EInvoiceUnavailable", "credit_note_xml", "einvoice_embed",
    "einvoice_filename", "invoice_xml",
]  # fmt: skip
