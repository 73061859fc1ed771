"""An EDocument as UN/CEFACT CII (Cross Industry Invoice D16B), the syntax of Factur-X / ZUGFeRD and of XRechnung's
CII flavour, built with drafthorse (which checks its output against the Factur-X XSD as it serializes)."""

from drafthorse.models.accounting import ApplicableTradeTax
from drafthorse.models.document import Document
from drafthorse.models.note import IncludedNote
from drafthorse.models.party import TaxRegistration
from drafthorse.models.payment import PaymentMeans, PaymentTerms
from drafthorse.models.tradelines import LineItem

from billing.einvoice.document import MEANS_CODES, EDocument
from billing.einvoice.texts import PAYMENT_TRANSFER

FACTURX_EN16931 = "urn:cen.eu:en16931:2017"
UNIT_ONE = "C62"  # UN/ECE Rec 20 "one": licences, fees, a month's usage


def cii_xml(document: EDocument, *, guideline: str = FACTURX_EN16931) -> bytes:
    doc = Document()
    doc.context.guideline_parameter.id = guideline
    _header(doc, document)
    _seller(doc, document)
    _buyer(doc, document)
    for line in document.lines:
        doc.trade.items.add(_line_item(line, document))
    _settlement(doc, document)
    return doc.serialize(schema="FACTUR-X_EN16931")


def _header(doc: Document, document: EDocument) -> None:
    doc.header.id = document.number
    doc.header.type_code = document.type_code
    doc.header.issue_date_time = document.issue_date
    for subject, text in document.texts.notes:
        note = IncludedNote()
        note.content = text
        note.subject_code = subject
        doc.header.notes.add(note)


def _seller(doc: Document, document: EDocument) -> None:
    seller, party = document.seller, doc.trade.agreement.seller
    party.name = seller.name
    party.legal_organization.id = ("", seller.registration_id)
    party.contact.person_name = seller.contact_name
    party.contact.telephone.number = seller.contact_phone
    party.contact.email.address = seller.contact_email
    party.address.line_one = seller.street
    party.address.postcode = seller.postal_code
    party.address.city_name = seller.city
    party.address.country_id = seller.country
    party.electronic_address.uri_ID = ("EM", seller.contact_email)
    party.tax_registrations.add(TaxRegistration(id=("FC", seller.tax_number)))
    if document.tax_case.carries_vat_ids:
        party.tax_registrations.add(TaxRegistration(id=("VA", seller.vat_id)))


def _buyer(doc: Document, document: EDocument) -> None:
    buyer, party = document.buyer, doc.trade.agreement.buyer
    if document.buyer_reference:
        doc.trade.agreement.buyer_reference = document.buyer_reference
    party.name = buyer.get("company_name", "")
    for field, key in (("line_one", "address_line1"), ("line_two", "address_line2"), ("postcode", "postal_code"),
                       ("city_name", "city")):  # fmt: skip
        if buyer.get(key):
            setattr(party.address, field, buyer[key])
    party.address.country_id = buyer.get("country", "")
    if buyer.get("billing_email"):
        party.electronic_address.uri_ID = ("EM", buyer["billing_email"])
    if document.tax_case.carries_vat_ids and buyer.get("vat_id"):
        party.tax_registrations.add(TaxRegistration(id=("VA", buyer["vat_id"])))


def _line_item(line, document: EDocument) -> LineItem:
    item = LineItem()
    item.document.line_id = str(line.position)
    item.product.name = line.name
    item.agreement.net.amount = line.price
    item.delivery.billed_quantity = (line.quantity, UNIT_ONE)
    item.settlement.trade_tax.type_code = "VAT"
    item.settlement.trade_tax.category_code = document.tax_case.category
    if document.tax_case.rate_percent is not None:
        item.settlement.trade_tax.rate_applicable_percent = document.tax_case.rate_percent
    item.settlement.monetary_summation.total_amount = line.net
    return item


def _settlement(doc: Document, document: EDocument) -> None:
    settlement = doc.trade.settlement
    settlement.currency_code = document.currency
    settlement.payment_reference = document.number
    if document.payment:
        settlement.payment_means.add(_payment_means(document))
    settlement.trade_tax.add(_vat_breakdown(document))
    settlement.period.start = document.period_start
    settlement.period.end = document.period_last_day
    terms = PaymentTerms()
    terms.description = document.texts.payment_terms
    terms.due = document.due_date
    settlement.terms.add(terms)
    if document.preceding:
        settlement.invoice_referenced_document.issuer_assigned_id = document.preceding[0]
        settlement.invoice_referenced_document.issue_date_time = document.preceding[1]
    totals = settlement.monetary_summation
    totals.line_total = document.line_total
    totals.tax_basis_total = (document.line_total, None)
    totals.tax_total = (document.tax_total, document.currency)
    totals.grand_total = (document.grand_total, None)
    totals.due_amount = document.due_amount


def _payment_means(document: EDocument) -> PaymentMeans:
    means = PaymentMeans()
    means.type_code = MEANS_CODES[document.payment]
    means.information.add(document.texts.payment_means_information)
    if document.card_last4:  # BG-18, which XRechnung requires of a card payment (BR-DE-24)
        means.financial_card.id = document.card_last4
    if document.payment == PAYMENT_TRANSFER:
        means.payee_account.iban = document.seller.iban
        means.payee_account.account_name = document.seller.name
        means.payee_institution.bic = document.seller.bic
    return means


def _vat_breakdown(document: EDocument) -> ApplicableTradeTax:
    case, tax = document.tax_case, ApplicableTradeTax()
    tax.calculated_amount = document.tax_total
    tax.type_code = "VAT"
    if document.texts.exemption_reason:
        tax.exemption_reason = document.texts.exemption_reason
    tax.basis_amount = document.line_total
    tax.category_code = case.category
    if case.exemption_code:
        tax.exemption_reason_code = case.exemption_code
    if case.rate_percent is not None:
        tax.rate_applicable_percent = case.rate_percent
    return tax
