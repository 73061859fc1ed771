"""A party's invoices: the one answer to "which invoices may this party see?", used by the Client Hub and Partner Hub
pages, the API, and the PDF and e-invoice downloads alike."""

from django.db.models import QuerySet

from billing.models import Invoice, InvoiceKind, InvoiceStatus
from clients.models import Client
from partners.models import Partner


def party_invoices(*, party: Client | Partner) -> QuerySet[Invoice]:
    """The party's issued invoices (numbered, never drafts). A client's are every kind billed to it; a partner's are
    its own Partner Plan invoices — a partner never sees its clients' invoices."""
    issued = Invoice.objects.filter(number__isnull=False).exclude(status=InvoiceStatus.DRAFT)
    if isinstance(party, Partner):
        return issued.filter(partner=party, kind=InvoiceKind.PARTNER_PLAN)
    return issued.filter(client=party)
