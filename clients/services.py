"""Writes on clients."""

from clients.models import Client
from core.company import normalize_vat_id
from partners.models import Partner


def client_create(*, partner: Partner, company_name: str, country: str, billing_email: str, **details) -> Client:
    """A new client under `partner`, validated before it is written. Onboarding (which may be refused while the
    partner is blocked) is `billing.onboarding.client_onboard`."""
    client = Client(
        partner=partner, company_name=company_name, country=(country or "").upper(), billing_email=billing_email,
        **{**details, "vat_id": normalize_vat_id(details.get("vat_id", ""))},
    )  # fmt: skip
    client.full_clean()
    client.save()
    return client
