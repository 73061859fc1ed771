"""`manage.py seed_demo` builds the demo world: about 9,000 messages, so each test takes a few seconds."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import F

from billing.models import CreditAccount, EntryKind, LedgerEntry, MessageUsage, RateCardRate
from clients.models import Client, ClientMembership
from hub.models import Hub, PhoneNumber, Waba
from partners.models import Partner, PartnerMembership

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
ROLES = ["billing", "owner", "viewer"]


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(NOW, tick=False):
        yield


def seed() -> str:
    stdout = StringIO()
    call_command("seed_demo", stdout=stdout)
    return stdout.getvalue()


def snapshot() -> dict:
    return {
        "usage": MessageUsage.objects.count(),
        "entries": LedgerEntry.objects.count(),
        "users": get_user_model().objects.count(),
        "numbers": PhoneNumber.objects.count(),
        "partners": Partner.objects.count(),
        "clients": Client.objects.count(),
        "hubs": Hub.objects.count(),
        "wabas": Waba.objects.count(),
        "rates": RateCardRate.objects.count(),
        "memberships": PartnerMembership.objects.count() + ClientMembership.objects.count(),
        "balances": dict(CreditAccount.objects.values_list("hub__hub_id", "balance")),
    }


def test_seed_demo_builds_partners_clients_hubs_numbers_users_and_two_months_of_usage():
    output = seed()

    partners = {p.name: (p.currency, p.plan.code) for p in Partner.objects.select_related("plan")}
    assert partners == {
        "Nordlicht Digital": ("EUR", "growth"), "Sunrise Messaging": ("USD", "premium"),
        "Conecta Brasil": ("USD", "growth"),
    }  # fmt: skip
    languages = dict(Partner.objects.values_list("name", "invoice_language"))
    assert languages == {"Nordlicht Digital": "de", "Sunrise Messaging": "en", "Conecta Brasil": "pt-br"}
    billing_languages = {c.company_name: c.billing_language for c in Client.objects.all()}
    assert billing_languages == {
        "Bäckerei Müller GmbH": "de", "Café Olé S.L.": "es", "Łódź Logistyka sp. z o.o.": "en",
        "Acme Retail LLC": "en", "São Paulo Modas Ltda.": "pt-br",
    }  # fmt: skip
    assert Client.objects.count() == 5
    hubs = Hub.objects.select_related("client__partner", "credit_account")
    assert hubs.count() == 5
    for hub in hubs:
        assert hub.currency == hub.client.partner.currency == hub.credit_account.currency
    assert sorted(Hub.objects.values_list("currency", flat=True)) == ["EUR", "EUR", "EUR", "USD", "USD"]

    pending = PhoneNumber.objects.get(status=PhoneNumber.Status.PENDING_DELETION)
    assert (pending.e164, pending.deletion_requested_at) == ("+34612345679", NOW)
    mid_month = PhoneNumber.objects.filter(onboarded_at__gte=dt.datetime(2026, 11, 2, tzinfo=dt.UTC))
    onboarding_days = sorted((n.e164, n.onboarded_at.day) for n in mid_month)
    assert onboarding_days == [("+12025550144", 15), ("+4915112345679", 10)]
    assert PhoneNumber.objects.count() == 8

    for partner in Partner.objects.all():
        assert sorted(partner.memberships.values_list("role", flat=True)) == ROLES
    for client in Client.objects.all():
        assert sorted(client.memberships.values_list("role", flat=True)) == ROLES
    assert get_user_model().objects.filter(is_superuser=True).get().username == "admin"
    assert get_user_model().objects.count() == 1 + 3 * 3 + 5 * 3
    assert "mueller-billing" in output

    for hub in Hub.objects.all():
        periods = set(MessageUsage.objects.filter(hub=hub).values_list("period", flat=True))
        assert periods == {dt.date(2026, 10, 1), dt.date(2026, 11, 1)}, hub.hub_id
    assert not MessageUsage.objects.filter(sent_at__gte=NOW).exists()
    assert not MessageUsage.objects.exclude(currency=F("hub__currency")).exists()
    funds = LedgerEntry.objects.filter(kind=EntryKind.FUNDS_ADDED, account__hub__hub_id="HUB-DEMQ7K2M")
    assert sorted(funds.values_list("period", "amount")) == [
        (dt.date(2026, 10, 1), Decimal("150")),
        (dt.date(2026, 11, 1), Decimal("150")),
    ]


def test_seed_demo_run_twice_creates_nothing_new_and_the_books_audit_clean():
    seed()
    first = snapshot()

    seed()

    assert snapshot() == first
    assert first["usage"] > 0 and first["entries"] > 0
    audit = StringIO()
    call_command("billing_audit", stdout=audit, stderr=StringIO())
    assert audit.getvalue() == "OK: 5 credit account(s) audited, no violations.\n"


def test_seeded_usage_never_predates_the_number_it_was_sent_from():
    seed()

    assert not MessageUsage.objects.filter(sent_at__lt=F("phone_number__onboarded_at")).exists()
