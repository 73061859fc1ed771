"""What the e-invoice costs per document, on PostgreSQL: building the EN 16931 XML (drafthorse, with its XSD check),
embedding it in the rendered PDF (factur-x: XSD check, XMP, attachment; plus the sRGB output intent), against the
xhtml2pdf render it is added to; and the official schematron check the tests run (Saxon HE: compile once, then per
document). A License Invoice with 20 numbers and a card fee.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/einvoice.py [--count 20]
"""

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._setup import bench_django  # noqa: E402

DB_NAME = "hubportal_bench_einvoice"
ISSUED_AT = dt.datetime(2026, 11, 1, 0, 10, tzinfo=dt.UTC)


def license_invoice(numbers: int):
    from billing.invoicing.licenses import license_issue
    from billing.models import PaymentMethod, PaymentMethodKind
    from billing.onboarding import hub_open
    from clients.models import Client
    from hub.models import LicenseTier, PhoneNumber, Waba
    from partners.models import Partner, Plan

    partner = Partner.objects.create(name="Bench", company_name="Bench GmbH", country="DE", currency="EUR",
                                     billing_email="p@bench.example", plan=Plan.objects.get(code="growth"))  # fmt: skip
    client = Client.objects.create(partner=partner, company_name="Bäckerei Bench GmbH", country="DE",
                                   billing_email="c@bench.example", city="Berlin", postal_code="10115")  # fmt: skip
    PaymentMethod.objects.create(client=client, kind=PaymentMethodKind.CARD, position=0)
    hub = hub_open(client=client, name="Bench hub")
    waba = Waba.objects.create(hub=hub, meta_waba_id="900000000001", name="WABA", timezone="UTC")
    tier = LicenseTier.objects.get(code="regular")
    for n in range(numbers):
        PhoneNumber.objects.create(waba=waba, e164=f"+4915190{n:06d}", tier=tier,
                                   onboarded_at=dt.datetime(2026, 9, 1, tzinfo=dt.UTC))  # fmt: skip
    (invoice,) = license_issue(hub_ids=[hub.id], month=dt.date(2026, 11, 1), issued_at=ISSUED_AT)
    return invoice


def per_document(label: str, count: int, work) -> None:
    work()  # warm-up
    started = time.perf_counter()
    for _ in range(count):
        work()
    ms = (time.perf_counter() - started) / count * 1000
    print(f"  {label:<46} {ms:8.1f} ms per document")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args()
    bench_django(DB_NAME)
    from unittest import mock

    from billing import pdf
    from billing.einvoice import einvoice_embed, invoice_xml
    from billing.einvoice.validation import _schematron, einvoice_check

    invoice = license_invoice(20)
    xml = invoice_xml(invoice=invoice)
    with mock.patch.object(pdf, "einvoice_embed", lambda data, invoice: data):  # the bare xhtml2pdf render
        bare = pdf.invoice_pdf_render(invoice=invoice)
    print(f"E-invoice of {invoice.number} ({invoice.lines.count()} lines, XML {len(xml):,} bytes), {args.count} runs:")
    with mock.patch.object(pdf, "einvoice_embed", lambda data, invoice: data):
        per_document("xhtml2pdf render alone", args.count, lambda: pdf.invoice_pdf_render(invoice=invoice))
    per_document("XML build (drafthorse + XSD)", args.count, lambda: invoice_xml(invoice=invoice))
    per_document("embed in the PDF (XML build included)", args.count, lambda: einvoice_embed(bare, invoice=invoice))
    per_document("render + embed (what issuing stores)", args.count, lambda: pdf.invoice_pdf_render(invoice=invoice))
    started = time.perf_counter()
    _schematron()
    print(f"  {'schematron compile (once per process)':<46} {(time.perf_counter() - started) * 1000:8.1f} ms")
    per_document("XSD + schematron check", args.count, lambda: einvoice_check(xml))


if __name__ == "__main__":
    main()
