"""Writes of the portal that concern a party whichever kind it is (a client or a partner)."""

from django.db import transaction

from clients.models import Client
from partners.models import Partner

COMPANY_FIELDS = [
    "company_name",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "country",
    "vat_id",
    "tax_id",
    "state",
    "billing_email",
    "invoice_language",
]
# A client may also give its buyer reference (Leitweg-ID), which its e-invoices carry (XRechnung needs it).
CLIENT_FIELDS = [*COMPANY_FIELDS, "buyer_reference"]


def company_fields(party: Client | Partner) -> list[str]:
    return CLIENT_FIELDS if isinstance(party, Client) else COMPANY_FIELDS


def company_details_update(*, party: Client | Partner, details: dict) -> Client | Partner:
    """Write the billed company's details (validated with the model's clean). Issued invoices keep their
    snapshot; the next invoice issued prints these."""
    with transaction.atomic():
        locked = type(party).objects.select_for_update().get(pk=party.pk)
        fields = company_fields(party)
        for field in fields:
            setattr(locked, field, details[field])
        locked.full_clean()
        locked.save(update_fields=fields)
    return locked
