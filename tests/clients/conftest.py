"""Client Hub page tests: users of a client in each role, hubs with money, usage rows; localstripe for card flows."""

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from djmoney.money import Money

from billing.ledger import ledger_post
from billing.models import EntryKind, MessageUsage
from clients.models import ClientMembership
from partners.models import PartnerMembership
from tests.billing.payments.conftest import localstripe  # noqa: F401 -- the fixture, for the card flows
from tests.factories import ClientFactory, HubFactory, PhoneNumberFactory, UserFactory, WabaFactory

_serial = itertools.count(1)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def member(client, role: str):
    user = UserFactory()
    ClientMembership.objects.create(user=user, client=client, role=role)
    return user


def partner_user(partner):
    user = UserFactory()
    PartnerMembership.objects.create(user=user, partner=partner, role="owner")
    return user


def fund(hub, amount: str, key: str | None = None):
    return ledger_post(
        account=hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money(amount, hub.currency),
        key=key or f"test-funds:{hub.pk}:{next(_serial)}",
    )  # fmt: skip


def usage(number, *, cost: str, category: str = "marketing", market: str = "DE", sent_at: dt.datetime,
          billable: bool = True, count: int = 1) -> list[MessageUsage]:  # fmt: skip
    """Rated message rows as ingestion writes them (without their ledger posting: the pages read the rows)."""
    rows = [
        MessageUsage(
            message_id=f"wamid.test.{next(_serial)}", hub_id=number.waba.hub_id, waba_id=number.waba_id,
            phone_number=number, recipient_country=market[:2], market=market, category=category, billable=billable,
            sent_at=sent_at, rate_date=sent_at.date(), rate=Decimal(cost), cost=Decimal(cost), currency="EUR",
            period=sent_at.date().replace(day=1), recorded_at=sent_at,
        )  # fmt: skip
        for _ in range(count)
    ]
    return MessageUsage.objects.bulk_create(rows)


@pytest.fixture
def acme():
    """A German client with one hub holding 100.00 EUR."""
    client = ClientFactory(company_name="Acme GmbH", country="DE")
    hub = HubFactory(client=client, name="Acme Main")
    fund(hub, "100.00")
    return client


@pytest.fixture
def owner(acme):
    return member(acme, "owner")


@pytest.fixture
def billing_user(acme):
    return member(acme, "billing")


@pytest.fixture
def viewer(acme):
    return member(acme, "viewer")


@pytest.fixture
def other_client():
    client = ClientFactory(company_name="Other AG", country="DE")
    HubFactory(client=client, name="Other Hub")
    return client


def a_number(hub):
    return PhoneNumberFactory(waba=WabaFactory(hub=hub, name=f"WABA of {hub.name}"))
