"""Page tests: signed-in members of a client or a partner, usage rows for the read pages, and the payment fixtures
(localstripe, the PIX/Boleto fake) shared with tests/billing/payments."""

import datetime as dt
import itertools
from decimal import Decimal

from billing.models import MessageUsage
from clients.models import ClientMembership
from core import clock
from hub.models import PhoneNumber
from partners.models import PartnerMembership
from tests.billing.payments.conftest import brazilian_partner, localstripe, media, vouchers  # noqa: F401 -- fixtures
from tests.factories import PhoneNumberFactory, UserFactory, WabaFactory

_messages = itertools.count(1)


def partner_member(django_client, partner, role: str = "owner"):
    """Sign a new user of `partner` with `role` in on the test client."""
    user = UserFactory()
    PartnerMembership.objects.create(user=user, partner=partner, role=role)
    django_client.force_login(user)
    return user


def client_member(django_client, client, role: str = "owner"):
    user = UserFactory()
    ClientMembership.objects.create(user=user, client=client, role=role)
    django_client.force_login(user)
    return user


def usage_cost(hub, cost: str, *, category: str = "marketing", period: dt.date | None = None) -> MessageUsage:
    """One rated billable message of `hub` costing `cost`, counted in `period` (default: this month)."""
    number = PhoneNumber.objects.filter(waba__hub=hub).first() or PhoneNumberFactory(waba=WabaFactory(hub=hub))
    period = period or clock.month_start(clock.now())
    sent_at = dt.datetime.combine(period, dt.time(12), tzinfo=dt.UTC)
    return MessageUsage.objects.create(
        message_id=f"wamid.page.{next(_messages)}", hub=hub, waba=number.waba, phone_number=number,
        recipient_country="DE", market="DE", category=category, billable=True, sent_at=sent_at, rate_date=period,
        rate=Decimal(cost), cost=Decimal(cost), currency=hub.currency, period=period, recorded_at=sent_at,
    )  # fmt: skip
