"""Writes on hubs, WABAs and numbers."""

import datetime as dt

from django.db import transaction

from billing import clock
from billing.models import CreditAccount
from clients.models import Client
from hub.models import Hub, LicenseTier, PhoneNumber, Waba


def hub_create(*, client: Client, name: str, hub_id: str | None = None) -> Hub:
    """A hub in its owner's currency (the partner's), with its credit account."""
    with transaction.atomic():
        hub = Hub(client=client, name=name, currency=client.partner.currency)
        if hub_id:
            hub.hub_id = hub_id
        hub.full_clean()
        hub.save()
        CreditAccount.objects.create(hub=hub, currency=hub.currency)
        # A new hub's balance is 0.00: outbound messaging is blocked until it is funded (the ledger lifts it).
        from billing.restrictions import restrictions_evaluate

        restrictions_evaluate(hub_ids=[hub.id])
    return hub


def waba_create(*, hub: Hub, meta_waba_id: str, name: str, timezone: str = "UTC") -> Waba:
    waba = Waba(hub=hub, meta_waba_id=meta_waba_id, name=name, timezone=timezone)
    waba.full_clean()
    waba.save()
    return waba


def number_onboard(
    *,
    waba: Waba,
    e164: str,
    tier: LicenseTier,
    onboarded_at: dt.datetime | None = None,
    display_name: str = "",
) -> PhoneNumber:
    """Onboard a number; one onboarded after the 1st gets its pro-rated License Invoice – New Numbers, queued for
    when this transaction commits (the daily billing sweep catches any that a lost task missed)."""
    from billing.invoicing.licenses import new_numbers_on_onboard

    with transaction.atomic():
        number = PhoneNumber(
            waba=waba, e164=e164, tier=tier, display_name=display_name, onboarded_at=onboarded_at or clock.now()
        )
        number.full_clean()
        number.save()
        new_numbers_on_onboard(number=number)
    return number


def number_request_deletion(*, number: PhoneNumber, requested_at: dt.datetime | None = None) -> PhoneNumber:
    """A deletion takes effect at month end; the number stays licensed (and billed) until then."""
    with transaction.atomic():
        number = PhoneNumber.objects.select_for_update().get(pk=number.pk)
        if number.status == PhoneNumber.Status.ACTIVE:
            number.status = PhoneNumber.Status.PENDING_DELETION
            number.deletion_requested_at = requested_at or clock.now()
            number.save(update_fields=["status", "deletion_requested_at"])
    return number
