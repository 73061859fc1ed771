"""Writes on clients."""

from django.db import transaction

from billing.restrictions import onboarding_check
from clients.models import Client
from hub.company import normalize_vat_id
from partners.models import Partner


def client_onboard(*, partner: Partner, company_name: str, country: str, billing_email: str, **details) -> Client:
    """A new client under `partner`. Refused (OnboardingBlocked, with the reason) while the partner's onboarding is
    blocked by an unpaid Partner Plan invoice. Validation errors are raised before anything is written."""
    with transaction.atomic():
        Partner.objects.select_for_update().get(pk=partner.pk)
        onboarding_check(partner_id=partner.pk)
        client = Client(
            partner=partner, company_name=company_name, country=(country or "").upper(), billing_email=billing_email,
            **{**details, "vat_id": normalize_vat_id(details.get("vat_id", ""))},
        )  # fmt: skip
        client.full_clean()
        client.save()
    return client
