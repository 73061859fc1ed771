"""The License Invoices written set-based on PostgreSQL (`license_issue_rows`, billing/invoicing/licenses.py) against
the drafts path through `invoices_issue` (`license_issue_drafts`, still the portable path and covered by
test_licenses.py's exact figures): for a mix of hubs both write exactly the same invoices, lines, numbers and
licensed-through months."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import connection

from billing.invoicing import licenses
from billing.invoicing.licenses import license_issue
from billing.models import Invoice, InvoiceLine, InvoiceSequence, PaymentMethod, PaymentMethodKind
from hub.models import LicenseTier, PhoneNumber
from tests.billing.invoicing.helpers import written_by_the_other_path
from tests.factories import ClientFactory, HubFactory, PartnerFactory, PhoneNumberFactory, WabaFactory

OCT, NOV = dt.date(2026, 10, 1), dt.date(2026, 11, 1)
ISSUED_AT = dt.datetime(2026, 11, 1, 0, 5, tzinfo=dt.UTC)


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def hub(n: int, *, currency: str = "EUR", **client_fields):
    client = ClientFactory(company_name=f"Company {n}", partner=PartnerFactory(currency=currency), **client_fields)
    return WabaFactory(hub=HubFactory(client=client))


def mixed_numbers() -> dict[str, object]:
    """German VAT in German, reverse charge paying by card (a Transaction Fee line), USD outside the EU in Spanish,
    EU without VAT ID in Portuguese; two tiers; a pending deletion; a number whose October was left unbilled (two
    invoices, October and November); a deleted number; a hub already invoiced for November (skipped)."""
    regular, premium = LicenseTier.objects.get(code="regular"), LicenseTier.objects.get(code="premium")
    wabas = {
        "german": hub(1, country="DE", invoice_language="de"),
        "card": hub(2, country="FR", vat_id="FR40303265045"),
        "dollars": hub(3, currency="USD", country="US", invoice_language="es"),
        "austrian": hub(4, country="AT", invoice_language="pt-br"),
        "invoiced": hub(5, country="DE"),
    }
    PaymentMethod.objects.create(client=wabas["card"].hub.client, kind=PaymentMethodKind.CARD, position=0)
    onboarded = utc(2026, 9, 3, 9)
    PhoneNumberFactory(waba=wabas["german"], e164="+4915110000003", tier=premium, onboarded_at=onboarded)
    PhoneNumberFactory(waba=wabas["german"], e164="+4915110000001", tier=regular, onboarded_at=onboarded)
    PhoneNumberFactory(
        waba=wabas["german"], e164="+4915110000002", tier=regular, onboarded_at=onboarded,
        status=PhoneNumber.Status.PENDING_DELETION, deletion_requested_at=utc(2026, 11, 1, 0, 0),
    )  # fmt: skip
    PhoneNumberFactory(waba=wabas["card"], e164="+3361000001", tier=premium, onboarded_at=onboarded)
    PhoneNumberFactory(  # October left unbilled: two invoices
        waba=wabas["dollars"], e164="+12025550101", tier=regular, onboarded_at=onboarded,
        licensed_through=dt.date(2026, 9, 1),
    )  # fmt: skip
    PhoneNumberFactory(
        waba=wabas["dollars"], e164="+12025550102", tier=regular, onboarded_at=onboarded,
        status=PhoneNumber.Status.DELETED, deleted_at=utc(2026, 10, 1), licensed_through=dt.date(2026, 9, 1),
    )  # fmt: skip
    PhoneNumberFactory(waba=wabas["austrian"], e164="+436641000001", tier=regular, onboarded_at=onboarded)
    PhoneNumberFactory(waba=wabas["invoiced"], e164="+4915120000001", tier=regular, onboarded_at=onboarded)
    license_issue(hub_ids=[wabas["invoiced"].hub_id], month=NOV, issued_at=ISSUED_AT)
    # onboarded before the run, after the hub's November invoice: its draft's key is taken, so it is skipped
    PhoneNumberFactory(waba=wabas["invoiced"], e164="+4915120000002", tier=regular, onboarded_at=utc(2026, 10, 30))
    return {name: waba.hub for name, waba in wabas.items()}


def books() -> dict:
    """Everything a License Invoice run writes, without database ids."""
    invoice_fields = [f.column for f in Invoice._meta.concrete_fields if f.column not in ("id", "hub_id", "client_id")]
    return {
        "invoices": list(Invoice.objects.order_by("number").values_list("hub__hub_id", *invoice_fields)),
        "lines": list(
            InvoiceLine.objects.order_by("invoice__number", "position").values_list(
                "invoice__number", "position", "role", "description", "quantity", "unit_amount", "amount", "details"
            )
        ),
        "numbers": list(PhoneNumber.objects.order_by("e164").values_list("e164", "licensed_through")),
        "sequences": list(
            InvoiceSequence.objects.order_by("series", "year").values_list("series", "year", "last_number")
        ),
    }


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_set_based_license_invoices_are_exactly_the_drafts_paths(monkeypatch):
    with time_machine.travel(utc(2026, 11, 1, 0, 1), tick=False):
        hubs = mixed_numbers()
    hub_ids = [h.id for h in hubs.values()]
    assert connection.vendor == "postgresql"

    with time_machine.travel(ISSUED_AT, tick=False):
        drafts_path, expected = written_by_the_other_path(  # the drafts path in place of the rows one, rolled back
            module=licenses, name="license_issue_rows", other=licenses.license_issue_drafts,
            run=lambda: license_issue(hub_ids=hub_ids, month=NOV, issued_at=ISSUED_AT), books=books,
        )  # fmt: skip
        assert Invoice.objects.count() == 1  # only the invoiced hub's, issued before

        set_based = license_issue(hub_ids=hub_ids, month=NOV, issued_at=ISSUED_AT)

    assert books() == expected
    assert [(i.number, i.hub_id, i.period_key) for i in set_based] == [
        (i.number, i.hub_id, i.period_key) for i in drafts_path
    ]
    # the comparison is not between two empty books: every case of the mix is in them
    issued = {(i.hub_id, i.period_key): i for i in set_based}
    assert set(issued) == {
        (hubs["german"].id, "2026-11"), (hubs["card"].id, "2026-11"), (hubs["dollars"].id, "2026-10"),
        (hubs["dollars"].id, "2026-11"), (hubs["austrian"].id, "2026-11"),
    }  # fmt: skip
    german = issued[(hubs["german"].id, "2026-11")]
    assert list(german.lines.order_by("position").values_list("description", "amount")) == [
        ("Lizenz +4915110000001 (Regular), November 2026", Decimal("25.00")),
        ("Lizenz +4915110000002 (Regular), November 2026", Decimal("25.00")),
        ("Lizenz +4915110000003 (Premium), November 2026", Decimal("49.00")),
        ("USt. 19 %", Decimal("18.81")),
    ]
    card = issued[(hubs["card"].id, "2026-11")]
    assert card.fee_amount > 0 and "FR40303265045" in card.tax_note
    assert card.lines.filter(role="fee").count() == 1
    assert issued[(hubs["dollars"].id, "2026-10")].currency == "USD"
    assert not Invoice.objects.filter(hub=hubs["invoiced"]).exclude(number="INV-2026-000001").exists()
    assert license_issue(hub_ids=hub_ids, month=NOV, issued_at=ISSUED_AT) == []
    assert books() == expected
