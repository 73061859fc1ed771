"""VAT by the billed company's country and VAT ID, and the 4% transaction fee of a party whose first saved payment
method is a card."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from billing.invoicing.licenses import license_issue
from billing.invoicing.partner_plans import partner_plan_issue
from billing.invoicing.tax import tax_treatment
from billing.models import Invoice, PaymentMethod, PaymentMethodKind
from hub.models import LicenseTier
from tests.factories import ClientFactory, HubFactory, PartnerFactory, PhoneNumberFactory, WabaFactory

pytestmark = pytest.mark.django_db

NOV = dt.date(2026, 11, 1)
ISSUED_AT = dt.datetime(2026, 11, 1, 0, 5, tzinfo=dt.UTC)
REVERSE_CHARGE_NOTE = (
    "Reverse charge: VAT to be accounted for by the recipient (Article 196, Council Directive 2006/112/EC). "
    "Recipient VAT ID: FR40303265045."
)
OUTSIDE_EU_NOTE = "Not subject to German VAT: place of supply outside the EU."


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(dt.datetime(2026, 11, 1, 0, 5, tzinfo=dt.UTC), tick=False):
        yield


def lines(invoice: Invoice) -> list[tuple[str, str, Decimal]]:
    return list(invoice.lines.order_by("position").values_list("role", "description", "amount"))


def licensed_hub(client, *tiers: str, first: int = 1):
    """A hub of `client` with a number of each tier (+4915110000001, …), onboarded before November."""
    waba = WabaFactory(hub=HubFactory(client=client))
    for n, tier in enumerate(tiers, start=first):
        PhoneNumberFactory(waba=waba, e164=f"+491511000000{n}", tier=LicenseTier.objects.get(code=tier))
    return waba.hub


def method(party, kind: str, position: int) -> PaymentMethod:
    owner = {"partner": party} if party._meta.model_name == "partner" else {"client": party}
    return PaymentMethod.objects.create(kind=kind, position=position, **owner)


# --- Tax treatment ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "vat_id", "rate", "label", "note"),
    [
        ("DE", "", "0.19", "VAT 19%", ""),
        ("DE", "DE811907980", "0.19", "VAT 19%", ""),
        ("FR", "FR40303265045", "0", "VAT 0% (reverse charge)", REVERSE_CHARGE_NOTE),
        ("FR", "", "0.19", "VAT 19%", ""),
        ("US", "", "0", "VAT 0%", OUTSIDE_EU_NOTE),
        ("US", "12-3456789", "0", "VAT 0%", OUTSIDE_EU_NOTE),
    ],
)
def test_tax_treatment_by_country_and_vat_id(country, vat_id, rate, label, note):
    treatment = tax_treatment(country=country, vat_id=vat_id)

    assert treatment.rate == Decimal(rate)
    assert treatment.label == label
    assert treatment.note == note


def test_a_french_client_with_a_vat_id_is_invoiced_under_reverse_charge():
    # given a French client with a VAT ID and two licensed numbers
    client = ClientFactory(country="FR", vat_id="FR40303265045")
    hub = licensed_hub(client, "regular", "premium")

    # when
    (invoice,) = license_issue(hub_ids=[hub.id], month=NOV, issued_at=ISSUED_AT)

    # then no VAT is charged and the invoice carries the reverse-charge note with the client's VAT ID
    invoice.refresh_from_db()
    assert invoice.tax_rate == Decimal(0)
    assert invoice.tax_amount == Decimal("0.00")
    assert invoice.total == Decimal("74.00")
    assert "Reverse charge" in invoice.tax_note
    assert "FR40303265045" in invoice.tax_note
    assert lines(invoice)[-1] == ("tax", "VAT 0% (reverse charge)", Decimal("0.00"))
    assert invoice.billed_company["vat_id"] == "FR40303265045"


def test_a_french_client_without_a_vat_id_pays_german_vat():
    hub = licensed_hub(ClientFactory(country="FR", vat_id=""), "regular", "premium")

    (invoice,) = license_issue(hub_ids=[hub.id], month=NOV, issued_at=ISSUED_AT)

    assert (invoice.tax_rate, invoice.tax_amount, invoice.total) == (
        Decimal("0.19"),
        Decimal("14.06"),
        Decimal("88.06"),
    )
    assert invoice.tax_note == ""


def test_a_client_outside_the_eu_pays_no_vat_and_the_invoice_says_why():
    client = ClientFactory(country="US", partner=PartnerFactory(currency="USD", country="US"))
    hub = licensed_hub(client, "premium")

    (invoice,) = license_issue(hub_ids=[hub.id], month=NOV, issued_at=ISSUED_AT)

    assert (invoice.currency, invoice.tax_amount, invoice.total) == ("USD", Decimal("0.00"), Decimal("49.00"))
    assert "outside the EU" in invoice.tax_note
    assert invoice.tax_note == OUTSIDE_EU_NOTE


# --- Transaction fee --------------------------------------------------------------------------------------------------


def test_a_client_paying_by_card_pays_a_4_percent_fee_and_vat_on_net_plus_fee():
    # given a German client whose first payment method is a card
    client = ClientFactory(country="DE")
    method(client, PaymentMethodKind.CARD, 0)
    hub = licensed_hub(client, "regular", "premium")

    # when
    (invoice,) = license_issue(hub_ids=[hub.id], month=NOV, issued_at=ISSUED_AT)

    # then 4% of 74.00 = 2.96 as its own line, VAT 19% of 76.96 = 14.6224 → 14.62
    assert lines(invoice) == [
        ("charge", "License +4915110000001 (Regular), November 2026", Decimal("25.00")),
        ("charge", "License +4915110000002 (Premium), November 2026", Decimal("49.00")),
        ("fee", "Transaction Fee", Decimal("2.96")),
        ("tax", "VAT 19%", Decimal("14.62")),
    ]
    assert invoice.pays_by_card is True
    assert (invoice.net_amount, invoice.fee_amount, invoice.tax_amount, invoice.total) == (
        Decimal("74.00"),
        Decimal("2.96"),
        Decimal("14.62"),
        Decimal("91.58"),
    )
    assert invoice.lines.get(role="tax").details == {"base": "76.96"}
    assert invoice.lines.get(role="fee").details == {"rate": "0.04"}


def test_the_fee_is_rounded_to_the_cent():
    # given a card payer outside the EU with one number of a 12.38 tier
    tier = LicenseTier.objects.create(code="custom", name="Custom", monthly_fee=Decimal("12.38"))
    client = ClientFactory(country="US", partner=PartnerFactory(currency="USD", country="US"))
    method(client, PaymentMethodKind.CARD, 0)
    waba = WabaFactory(hub=HubFactory(client=client))
    PhoneNumberFactory(waba=waba, e164="+12025550143", tier=tier)

    (invoice,) = license_issue(hub_ids=[waba.hub_id], month=NOV, issued_at=ISSUED_AT)

    # then 4% of 12.38 = 0.4952 → 0.50, and no VAT
    assert (invoice.net_amount, invoice.fee_amount, invoice.tax_amount, invoice.total) == (
        Decimal("12.38"),
        Decimal("0.50"),
        Decimal("0.00"),
        Decimal("12.88"),
    )


def test_only_the_first_payment_method_by_position_decides_the_fee():
    # given one client whose card was saved first but sits second, and one whose card sits first
    boleto_first = ClientFactory(country="DE")
    method(boleto_first, PaymentMethodKind.CARD, 1)
    method(boleto_first, PaymentMethodKind.BOLETO, 0)
    card_first = ClientFactory(country="DE")
    method(card_first, PaymentMethodKind.BOLETO, 1)
    method(card_first, PaymentMethodKind.CARD, 0)
    no_fee_hub = licensed_hub(boleto_first, "regular", first=1)
    fee_hub = licensed_hub(card_first, "regular", first=2)

    issued = license_issue(hub_ids=[no_fee_hub.id, fee_hub.id], month=NOV, issued_at=ISSUED_AT)

    by_hub = {invoice.hub_id: invoice for invoice in issued}
    assert (by_hub[no_fee_hub.id].fee_amount, by_hub[no_fee_hub.id].total) == (Decimal("0.00"), Decimal("29.75"))
    assert by_hub[no_fee_hub.id].pays_by_card is False
    assert [role for role, _, _ in lines(by_hub[no_fee_hub.id])] == ["charge", "tax"]
    # 4% of 25.00 = 1.00; VAT 19% of 26.00 = 4.94
    assert (by_hub[fee_hub.id].fee_amount, by_hub[fee_hub.id].tax_amount, by_hub[fee_hub.id].total) == (
        Decimal("1.00"),
        Decimal("4.94"),
        Decimal("30.94"),
    )


def test_a_client_without_a_saved_method_pays_no_fee():
    hub = licensed_hub(ClientFactory(country="DE"), "regular")

    (invoice,) = license_issue(hub_ids=[hub.id], month=NOV, issued_at=ISSUED_AT)

    assert (invoice.pays_by_card, invoice.fee_amount, invoice.total) == (False, Decimal("0.00"), Decimal("29.75"))


@pytest.mark.parametrize(
    ("methods", "fee", "tax", "total"),
    [
        # Growth plan 500.00 EUR to a German partner.
        ([], "0.00", "95.00", "595.00"),
        ([PaymentMethodKind.BOLETO, PaymentMethodKind.CARD], "0.00", "95.00", "595.00"),
        ([PaymentMethodKind.PIX, PaymentMethodKind.CARD], "0.00", "95.00", "595.00"),
        # 4% of 500.00 = 20.00; VAT 19% of 520.00 = 98.80
        ([PaymentMethodKind.CARD, PaymentMethodKind.BOLETO], "20.00", "98.80", "618.80"),
    ],
)
def test_a_partner_pays_the_card_fee_only_when_its_first_method_is_a_card(methods, fee, tax, total):
    partner = PartnerFactory(country="DE", currency="EUR")
    for position, kind in enumerate(methods):
        method(partner, kind, position)

    (invoice,) = partner_plan_issue(partner_ids=[partner.id], month=NOV, issued_at=ISSUED_AT)

    assert (invoice.net_amount, invoice.fee_amount, invoice.tax_amount, invoice.total) == (
        Decimal("500.00"),
        Decimal(fee),
        Decimal(tax),
        Decimal(total),
    )
    expected = [("charge", "Partner Plan Growth, November 2026", Decimal("500.00"))]
    if Decimal(fee):
        expected.append(("fee", "Transaction Fee", Decimal(fee)))
    expected.append(("tax", "VAT 19%", Decimal(tax)))
    assert lines(invoice) == expected


def test_a_client_payment_method_does_not_make_its_partner_pay_the_fee():
    # given a partner with no card whose client pays by card
    partner = PartnerFactory(country="DE", currency="EUR")
    method(ClientFactory(partner=partner), PaymentMethodKind.CARD, 0)

    (invoice,) = partner_plan_issue(partner_ids=[partner.id], month=NOV, issued_at=ISSUED_AT)

    assert (invoice.fee_amount, invoice.total) == (Decimal("0.00"), Decimal("595.00"))
