from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from billing.credit_note_pdf import credit_note_pdf_render
from billing.einvoice import EInvoiceUnavailable
from billing.einvoice.service import document_by_number
from billing.models import CreditNote
from billing.pdf import InvoicePdfError, invoice_pdf_bytes


class Command(BaseCommand):
    help = (
        "Write the PDF/A-3 of an issued invoice or credit note, its EN 16931 XML (Factur-X) inside: "
        "manage.py invoice_pdf INV-2026-000042 --output invoice.pdf"
    )

    def add_arguments(self, parser):
        parser.add_argument("number", help="Invoice or credit note number, e.g. INV-2026-000042 or CN-2026-000001.")
        parser.add_argument("--output", "-o", required=True, help="File to write the PDF to.")

    def handle(self, *args, number, output, **options):
        document = document_by_number(number)
        if document is None:
            raise CommandError(f"No invoice or credit note numbered {number}.")
        try:
            if isinstance(document, CreditNote):
                data = credit_note_pdf_render(credit_note=document)
            else:
                data = invoice_pdf_bytes(invoice=document)
        except (InvoicePdfError, EInvoiceUnavailable) as exc:
            raise CommandError(str(exc)) from exc
        Path(output).write_bytes(data)
        self.stdout.write(f"Wrote {document.number} ({len(data):,} bytes, factur-x.xml inside) to {output}.")
