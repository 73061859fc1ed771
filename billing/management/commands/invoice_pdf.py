from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from billing.models import Invoice
from billing.pdf import InvoicePdfError, invoice_pdf_bytes


class Command(BaseCommand):
    help = (
        "Write the PDF of an issued invoice (the stored one, else rendered and stored) to a file: "
        "manage.py invoice_pdf INV-2026-000042 --output invoice.pdf"
    )

    def add_arguments(self, parser):
        parser.add_argument("number", help="Invoice number, e.g. INV-2026-000042.")
        parser.add_argument("--output", "-o", required=True, help="File to write the PDF to.")

    def handle(self, *args, number, output, **options):
        invoice = Invoice.objects.filter(number=number).first()
        if invoice is None:
            raise CommandError(f"No invoice numbered {number}.")
        try:
            data = invoice_pdf_bytes(invoice=invoice)
        except InvoicePdfError as exc:
            raise CommandError(str(exc)) from exc
        Path(output).write_bytes(data)
        self.stdout.write(f"Wrote {invoice.number} ({len(data):,} bytes) to {output}.")
