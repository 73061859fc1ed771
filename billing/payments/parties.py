"""Who pays: a client (its hubs' invoices) or a partner (its Partner Plan invoices)."""

from django.db.models import QuerySet

from billing.models import Invoice, PaymentMethod, PaymentMethodKind
from clients.models import Client
from partners.models import Partner

Party = Client | Partner


def party_kind(party: Party) -> str:
    return "partner" if isinstance(party, Partner) else "client"


def party_key(party: Party) -> str:
    return f"{party_kind(party)}:{party.pk}"


def party_filter(party: Party) -> dict:
    """Keyword filter selecting the party's rows in a model with `client` and `partner` foreign keys."""
    return {party_kind(party): party}


def party_of(invoice: Invoice) -> Party:
    return invoice.partner if invoice.partner_id else invoice.client


def methods_of(party: Party) -> QuerySet[PaymentMethod]:
    """The party's saved methods, first charged first."""
    return PaymentMethod.objects.filter(**party_filter(party)).order_by("position", "id")


def cards_of(party: Party) -> list[PaymentMethod]:
    return list(methods_of(party).filter(kind=PaymentMethodKind.CARD))
