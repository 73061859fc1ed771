"""Parties, their API keys and a client for each: client A and client B under one partner, a second partner, the
platform's service key, and no key."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.core.cache import cache
from djmoney.money import Money
from rest_framework.test import APIClient

from api.keys import api_key_create
from api.throttling import ApiKeyRateThrottle
from billing import send_permission as permissions
from billing.invoicing.partner_plans import partner_plan_issue
from billing.invoicing.prepayments import topup_issue
from billing.ledger import ledger_post
from billing.models import EntryKind, Invoice
from tests.billing.payments.conftest import VISA, localstripe, save_card  # noqa: F401  (fixture re-exported)
from tests.factories import ClientFactory, HubFactory, PartnerFactory, PhoneNumberFactory, WabaFactory

ISSUED_AT = dt.datetime(2026, 11, 3, 10, tzinfo=dt.UTC)


def api_client(plaintext: str | None = None) -> APIClient:
    client = APIClient()
    if plaintext:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


@dataclass
class World:
    partner: object
    other_partner: object
    client_a: object
    client_b: object
    hub_a: object
    hub_b: object
    number_a: object
    number_b: object
    invoice_a: Invoice
    invoice_b: Invoice
    plan_invoice: Invoice
    other_plan_invoice: Invoice
    keys: dict  # who → plaintext key

    def api(self, who: str) -> APIClient:
        return api_client(self.keys.get(who))


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Every API test starts with no throttle counters, cached keys or answers, and no hub ids known in memory."""
    cache.clear()
    permissions._HUB_PKS.clear()
    yield
    cache.clear()


@pytest.fixture
def world(db) -> World:
    partner, other_partner = PartnerFactory(name="Nordlicht Partners"), PartnerFactory(name="Other Partner")
    client_a = ClientFactory(partner=partner, company_name="Alpha GmbH")
    client_b = ClientFactory(partner=partner, company_name="Beta GmbH")
    hub_a = HubFactory(client=client_a, hub_id="HUB-AAAAAAAA")
    hub_b = HubFactory(client=client_b, hub_id="HUB-BBBBBBBB")
    ledger_post(account=hub_a.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money("100.00", "EUR"), key="open:a")
    number_a = PhoneNumberFactory(waba=WabaFactory(hub=hub_a, meta_waba_id="111111111"), e164="+4915110000001")
    number_b = PhoneNumberFactory(waba=WabaFactory(hub=hub_b, meta_waba_id="222222222"), e164="+4915110000002")
    invoice_a = topup_issue(hub=hub_a, amount=Decimal("50.00"), request_key="a1", issued_at=ISSUED_AT)
    invoice_b = topup_issue(hub=hub_b, amount=Decimal("70.00"), request_key="b1", issued_at=ISSUED_AT)
    plan, other_plan = partner_plan_issue(
        partner_ids=[partner.pk, other_partner.pk], month=dt.date(2026, 11, 1), issued_at=ISSUED_AT
    )
    if plan.partner_id != partner.pk:
        plan, other_plan = other_plan, plan
    keys = {
        "client_a": api_key_create(name="A", party=client_a)[1],
        "client_b": api_key_create(name="B", party=client_b)[1],
        "partner": api_key_create(name="P", party=partner)[1],
        "other_partner": api_key_create(name="O", party=other_partner)[1],
        "service": api_key_create(name="Platform")[1],
    }
    return World(partner, other_partner, client_a, client_b, hub_a, hub_b, number_a, number_b, invoice_a, invoice_b,
                 plan, other_plan, keys)  # fmt: skip


@pytest.fixture
def slow_rates(monkeypatch):
    """Rates low enough to reach in a test."""
    rates = {"client": "3/min", "partner": "3/min", "service": "3/min"}
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", rates)
