"""A world of invoices issued by the real services, of every kind, for a buyer of each tax case, and helpers that
read an e-invoice back (lxml) and check it with the publisher's validator (billing/einvoice/validation.py)."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from djmoney.money import Money
from lxml import etree
from pypdf import PdfReader

from billing.einvoice.validation import einvoice_check
from billing.invoicing.licenses import license_issue, new_numbers_issue
from billing.invoicing.month_close import month_close
from billing.invoicing.partner_plans import partner_plan_issue
from billing.invoicing.prepayments import topup_issue
from billing.ledger import ledger_post
from billing.models import EntryKind, PaymentMethod, PaymentMethodKind, RateCardRate
from billing.usage.ingest import usage_record_batch
from hub.models import LicenseTier
from tests.factories import ClientFactory, HubFactory, PartnerFactory, PhoneNumberFactory, WabaFactory

OCT, NOV = dt.date(2026, 10, 1), dt.date(2026, 11, 1)
ISSUED_AT = dt.datetime(2026, 11, 1, 0, 10, tzinfo=dt.UTC)
RATE = Decimal("0.123457")
NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
# (country, VAT ID) of each tax case the portal applies
TAX_CASES = {
    "S-DE": ("DE", "DE811907980"),
    "S-EU-no-VAT-ID": ("FR", ""),
    "AE": ("FR", "FR40303265045"),
    "O": ("US", "12-3456789"),
}
KINDS = ("LICENSE", "LICENSE_NEW_NUMBERS", "PREPAYMENT", "MONTH_CLOSING", "PARTNER_PLAN")


class Xml:
    """An e-invoice read back."""

    def __init__(self, data: bytes):
        self.data = data
        self.root = etree.fromstring(data)

    def all(self, path: str) -> list[str]:
        nodes = self.root.xpath(path, namespaces=NS)
        return [node.text if isinstance(node, etree._Element) else str(node) for node in nodes]

    def one(self, path: str) -> str:
        (value,) = self.all(path)
        return value

    def amount(self, name: str) -> Decimal:
        return Decimal(self.one(f"//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:{name}"))


def assert_valid(xml: bytes) -> None:
    """XSD and EN 16931 schematron: no fatal failure (einvoice_check raises with every fatal rule's text)."""
    einvoice_check(xml)


def pdf_text(data: bytes) -> str:
    pages = PdfReader(io.BytesIO(data)).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


@pytest.fixture(autouse=True)
def now(time_machine):
    time_machine.move_to(ISSUED_AT, tick=False)
    return time_machine


@pytest.fixture(autouse=True)
def rate_card():
    RateCardRate.objects.create(
        effective_date=dt.date(2026, 1, 1), currency="EUR", market="DE", category="marketing", rate=RATE
    )


def buyer(case: str, *, card: bool = True, **fields):
    country, vat_id = TAX_CASES[case]
    client = ClientFactory(
        company_name="Bäckerei Müller & Söhne GmbH", country=country, vat_id=vat_id, address_line1="Hauptstraße 5",
        postal_code="80331", city="München", partner=PartnerFactory(currency="EUR"), **fields,
    )  # fmt: skip
    if card:
        PaymentMethod.objects.create(client=client, kind=PaymentMethodKind.CARD, position=0, brand="visa", last4="4242")
    return client


def licensed_hub(client):
    waba = WabaFactory(hub=HubFactory(client=client))
    PhoneNumberFactory(waba=waba, tier=LicenseTier.objects.get(code="regular"))
    PhoneNumberFactory(waba=waba, tier=LicenseTier.objects.get(code="premium"))
    return waba


def usage(waba, count: int, sent_at: dt.datetime, prefix: str) -> None:
    number = waba.numbers.order_by("e164").first()
    result = usage_record_batch(
        events=[
            {
                "message_id": f"wamid.{prefix}.{n}", "waba_id": waba.meta_waba_id, "phone_number": number.e164,
                "recipient_country": "DE", "category": "marketing", "billable": True,
                "timestamp": sent_at.isoformat(),
            }  # fmt: skip
            for n in range(count)
        ]
    )
    assert (result.accepted, result.rejected) == (count, [])


def issue_kind(kind: str, case: str, time_machine, **client_fields):
    """One invoice of `kind` to a card-paying buyer of tax case `case`, issued by the service that issues it."""
    if kind == "PARTNER_PLAN":
        country, vat_id = TAX_CASES[case]
        partner = PartnerFactory(country=country, vat_id=vat_id, currency="EUR", company_name="Revenda Ltda")
        PaymentMethod.objects.create(partner=partner, kind=PaymentMethodKind.CARD, position=0)
        (invoice,) = partner_plan_issue(partner_ids=[partner.id], month=NOV, issued_at=ISSUED_AT)
        return invoice
    waba = licensed_hub(buyer(case, **client_fields))
    hub = waba.hub
    if kind == "LICENSE":
        (invoice,) = license_issue(hub_ids=[hub.id], month=NOV, issued_at=ISSUED_AT)
    elif kind == "LICENSE_NEW_NUMBERS":
        onboarded = dt.datetime(2026, 11, 10, 9, tzinfo=dt.UTC)
        time_machine.move_to(onboarded, tick=False)
        PhoneNumberFactory(waba=waba, onboarded_at=onboarded)
        license_issue(hub_ids=[hub.id], month=NOV, issued_at=ISSUED_AT)
        (invoice,) = new_numbers_issue(day=onboarded.date(), issued_at=onboarded, hub_ids=[hub.id])
    elif kind == "PREPAYMENT":
        invoice = topup_issue(hub=hub, amount=Decimal("250.00"), request_key="topup-1", issued_at=ISSUED_AT)
    else:
        invoice = mci_of(hub, waba, time_machine)
    return invoice


def mci_of(hub, waba, time_machine):
    """October: 5.00 funds, 100 marketing messages (12.35), a reconciliation of −0.40: E = −7.75, so D = 7.75;
    lines 12.35, 0.40, −5.00; closed on 1 November."""
    time_machine.move_to(dt.datetime(2026, 10, 31, 12, tzinfo=dt.UTC), tick=False)
    ledger_post(account=hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money("5.00", "EUR"), key="funds:1",
                occurred_at=dt.datetime(2026, 10, 2, 8, tzinfo=dt.UTC))  # fmt: skip
    usage(waba, 100, dt.datetime(2026, 10, 3, 12, tzinfo=dt.UTC), "oct")
    ledger_post(account=hub.credit_account, kind=EntryKind.RECONCILIATION, amount=Money("-0.40", "EUR"),
                key="reconciliation:1", occurred_at=dt.datetime(2026, 10, 25, 3, tzinfo=dt.UTC))  # fmt: skip
    time_machine.move_to(ISSUED_AT, tick=False)
    (invoice,) = month_close(hub_ids=[hub.id], period=OCT, issued_at=ISSUED_AT)
    return invoice
