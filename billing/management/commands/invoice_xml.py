from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from billing.einvoice import SYNTAX_FACTURX, SYNTAXES, EInvoiceUnavailable, credit_note_xml, invoice_xml
from billing.einvoice.service import document_by_number
from billing.models import CreditNote


class Command(BaseCommand):
    help = (
        "Write the EN 16931 XML of an issued invoice or credit note: "
        "manage.py invoice_xml INV-2026-000042 --output invoice.xml [--syntax factur-x|xrechnung]"
    )

    def add_arguments(self, parser):
        parser.add_argument("number", help="Invoice or credit note number, e.g. INV-2026-000042 or CN-2026-000001.")
        parser.add_argument("--output", "-o", required=True, help="File to write the XML to.")
        parser.add_argument(
            "--syntax", choices=SYNTAXES, default=SYNTAX_FACTURX,
            help="factur-x (CII, EN 16931 profile; the XML inside the PDF) or xrechnung (needs a Leitweg-ID).",
        )  # fmt: skip

    def handle(self, *args, number, output, syntax, **options):
        document = document_by_number(number)
        if document is None:
            raise CommandError(f"No invoice or credit note numbered {number}.")
        try:
            if isinstance(document, CreditNote):
                data = credit_note_xml(credit_note=document, syntax=syntax)
            else:
                data = invoice_xml(invoice=document, syntax=syntax)
        except EInvoiceUnavailable as exc:
            raise CommandError(str(exc)) from exc
        Path(output).write_bytes(data)
        self.stdout.write(f"Wrote {document.number} as {syntax} ({len(data):,} bytes) to {output}.")
