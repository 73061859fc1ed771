"""The invoice email's PDF carries the e-invoice; after seed_demo and the next billing day every issued document
is a valid EN 16931 e-invoice."""

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from facturx import get_xml_from_pdf

from billing.einvoice import credit_note_xml, invoice_xml
from billing.invoicing.calendar import billing_run
from billing.invoicing.partner_plans import partner_plan_issue
from billing.journal import journal_export
from billing.models import CreditNote, Invoice
from billing.pdf import invoice_pdf_render
from tests.billing.einvoice.conftest import Xml, assert_valid
from tests.factories import PartnerFactory

pytestmark = pytest.mark.django_db

DEC_1 = dt.datetime(2026, 12, 1, 0, 5, tzinfo=dt.UTC)


def test_the_invoice_email_attaches_the_pdf_with_its_xml(django_capture_on_commit_callbacks, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    partner = PartnerFactory(company_name="Nordlicht Digital GmbH", billing_email="ap@nordlicht.example")

    with time_machine.travel(DEC_1, tick=False), django_capture_on_commit_callbacks(execute=True):
        (invoice,) = partner_plan_issue(partner_ids=[partner.id], month=dt.date(2026, 12, 1), issued_at=DEC_1)

    ((filename, content, mimetype),) = mail.outbox[0].attachments
    assert (filename, mimetype) == (f"{invoice.number}.pdf", "application/pdf")
    xml_name, xml = get_xml_from_pdf(content, check_xsd=True)
    assert xml_name == "factur-x.xml"
    assert_valid(xml)
    assert Xml(xml).one("//rsm:ExchangedDocument/ram:ID") == invoice.number


def test_after_seed_demo_and_the_next_billing_day_every_document_is_a_valid_e_invoice(time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC), tick=False)
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    time_machine.move_to(DEC_1, tick=False)
    billing_run(day=DEC_1.date())

    invoices = list(Invoice.objects.exclude(number=None).order_by("number"))
    assert {i.kind for i in invoices} == {"LICENSE", "PREPAYMENT", "MONTH_CLOSING", "PARTNER_PLAN"} | (
        {"LICENSE_NEW_NUMBERS"} & {i.kind for i in invoices}
    )
    for invoice in invoices:
        xml = invoice_xml(invoice=invoice)
        assert_valid(xml)
        assert Xml(xml).amount("DuePayableAmount") == invoice.total, invoice.number
    for note in CreditNote.objects.all():
        assert_valid(credit_note_xml(credit_note=note))
    # the PDF carries that same XML (a sample of the invoices: rendering is the slow part)
    for invoice in invoices[:: max(1, len(invoices) // 5)]:
        assert get_xml_from_pdf(invoice_pdf_render(invoice=invoice))[1] == invoice_xml(invoice=invoice)
    # November's journal: the dollar partners' plans booked at the demo's monthly rate, every document once
    november = [i for i in invoices if dt.date(2026, 11, 1) <= i.issued_at.date() < dt.date(2026, 12, 1)]
    datev = journal_export(month=dt.date(2026, 11, 1), file_format="datev").decode("cp1252").split("\r\n")[2:-1]
    assert sorted(line.split(";")[10].strip('"') for line in datev) == sorted(
        [i.number for i in november] + [n.number for n in CreditNote.objects.filter(issued_at__month=11)]
    )
    dollars = [line.split(";") for line in datev if '"USD"' in line]
    assert dollars and {(d[3], d[5]) for d in dollars} == {("1,080000", '"EUR"')}
