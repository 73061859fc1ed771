"""Writes on hubs, WABAs and numbers."""

import datetime as dt

from django.db import transaction

from clients.models import Client
from core import clock
from hub.models import Hub, LicenseTier, PhoneNumber, Waba


def hub_create(*, client: Client, name: str, hub_id: str | None = None) -> Hub:
    """A hub in its owner's currency (the partner's); `billing.onboarding.hub_open` adds its credit account."""
    hub = Hub(client=client, name=name, currency=client.partner.currency)
    if hub_id:
        hub.hub_id = hub_id
    hub.full_clean()
    hub.save()
    return hub


def waba_create(*, hub: Hub, meta_waba_id: str, name: str, timezone: str = "UTC") -> Waba:
    waba = Waba(hub=hub, meta_waba_id=meta_waba_id, name=name, timezone=timezone)
    waba.full_clean()
    waba.save()
    return waba


def number_create(
    *,
    waba: Waba,
    e164: str,
    tier: LicenseTier,
    onboarded_at: dt.datetime | None = None,
    display_name: str = "",
    meta_phone_number_id: str = "",
) -> PhoneNumber:
    """A number on `waba`; its license is billed by `billing.onboarding.number_onboard`."""
    number = PhoneNumber(
        waba=waba,
        e164=e164,
        tier=tier,
        display_name=display_name,
        meta_phone_number_id=meta_phone_number_id,
        onboarded_at=onboarded_at or clock.now(),
    )
    number.full_clean()
    number.save()
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
