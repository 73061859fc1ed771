"""Onboarding as billing sees it: a hub opens with its credit account (and is blocked until funded), a number
onboarded mid-month gets its pro-rated license invoice, and a client is onboarded only while its partner may.

The hub and party apps write their own rows (`hub.services`, `clients.services`); these services wrap those writes
with what billing adds, in one transaction, so the lower layers never import billing."""

import datetime as dt

from django.db import transaction

from billing.invoicing.licenses import new_numbers_on_onboard
from billing.models import CreditAccount
from billing.restrictions import onboarding_check, restrictions_evaluate
from clients.models import Client
from clients.services import client_create
from hub import services as hub_services
from hub.models import Hub, LicenseTier, PhoneNumber, Waba
from partners.models import Partner


def hub_open(*, client: Client, name: str, hub_id: str | None = None) -> Hub:
    """A hub in its owner's currency (the partner's), with its credit account. Its balance is 0.00, so outbound
    messaging is blocked until it is funded (the ledger lifts the block)."""
    with transaction.atomic():
        hub = hub_services.hub_create(client=client, name=name, hub_id=hub_id)
        CreditAccount.objects.create(hub=hub, currency=hub.currency)
        restrictions_evaluate(hub_ids=[hub.id])
    return hub


def number_onboard(
    *,
    waba: Waba,
    e164: str,
    tier: LicenseTier,
    onboarded_at: dt.datetime | None = None,
    display_name: str = "",
    meta_phone_number_id: str = "",
) -> PhoneNumber:
    """Onboard a number; one onboarded after the 1st gets its pro-rated License Invoice – New Numbers, queued for
    when this transaction commits (the daily billing sweep catches any that a lost task missed)."""
    with transaction.atomic():
        number = hub_services.number_create(
            waba=waba,
            e164=e164,
            tier=tier,
            onboarded_at=onboarded_at,
            display_name=display_name,
            meta_phone_number_id=meta_phone_number_id,
        )
        new_numbers_on_onboard(number=number)
    return number


def client_onboard(*, partner: Partner, **details) -> Client:
    """A new client under `partner`. Refused (OnboardingBlocked, with the reason) while the partner's onboarding is
    blocked by an unpaid Partner Plan invoice. Validation errors are raised before anything is written."""
    with transaction.atomic():
        Partner.objects.select_for_update().get(pk=partner.pk)
        onboarding_check(partner_id=partner.pk)
        return client_create(partner=partner, **details)


def client_with_hub_onboard(*, partner: Partner, hub_name: str, **details) -> tuple[Client, Hub]:
    """A new client under `partner` with its first hub, both or neither. Refused (OnboardingBlocked) while the
    partner's onboarding is blocked; ValidationError for bad company details."""
    with transaction.atomic():
        client = client_onboard(partner=partner, **details)
        hub = hub_open(client=client, name=hub_name)
    return client, hub
