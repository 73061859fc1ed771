"""Reads for the Partner Hub. A partner sees its own Partner Plan invoices and its clients' usage and billing status,
never its clients' invoices: the client list carries the state of their latest invoices, not the invoices."""

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, DecimalField, Exists, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from billing import clock
from billing.models import CreditAccount, Invoice, InvoiceKind, InvoiceStatus, Restriction
from billing.restrictions import LICENSE_KINDS
from clients.models import Client
from clients.selectors import RestrictionNotice, restriction_notices
from hub.models import Category, Hub, MessageUsage
from partners.models import Partner

ZERO = Value(Decimal(0), output_field=DecimalField(max_digits=18, decimal_places=6))
CLIENT_SORTS = {"name": "company_name", "usage": "usage_this_month", "balance": "credit_balance"}
USAGE_MONTHS = 6


def plan_invoices(*, partner: Partner) -> QuerySet[Invoice]:
    """The partner's own issued Partner Plan invoices, newest first."""
    return (
        Invoice.objects.filter(partner=partner, kind=InvoiceKind.PARTNER_PLAN)
        .exclude(status=InvoiceStatus.DRAFT)
        .order_by("-period_start", "-id")
    )


def plan_invoice_get(*, partner: Partner, number: str) -> Invoice | None:
    return plan_invoices(partner=partner).filter(number=number).first()


@dataclass(frozen=True)
class PartnerOverview:
    partner: Partner
    clients: int
    clients_restricted: int
    unpaid_invoices: list[Invoice]
    notices: list[RestrictionNotice]  # the partner's own blocks, for templates/portal/_restrictions.html


def partner_overview(*, partner: Partner) -> PartnerOverview:
    restricted = Restriction.objects.filter(hub__client=OuterRef("pk"), lifted_at__isnull=True)
    counts = Client.objects.filter(partner=partner).aggregate(
        clients=Count("pk"), restricted=Count("pk", filter=Q(Exists(restricted)))
    )
    unpaid = plan_invoices(partner=partner).filter(status=InvoiceStatus.UNPAID)
    return PartnerOverview(
        partner=Partner.objects.select_related("plan").get(pk=partner.pk),
        clients=counts["clients"],
        clients_restricted=counts["restricted"],
        unpaid_invoices=list(unpaid),
        notices=restriction_notices(partner=partner, links="partner"),
    )


def _latest_status(kinds: Sequence[str]) -> Subquery:
    issued = Invoice.objects.filter(client=OuterRef("pk"), kind__in=kinds).exclude(
        status__in=(InvoiceStatus.DRAFT, InvoiceStatus.VOID)
    )
    return Subquery(issued.order_by("-issued_at", "-id").values("status")[:1])


def _any_unpaid(kinds: Sequence[str]) -> Exists:
    return Exists(Invoice.objects.filter(client=OuterRef("pk"), kind__in=kinds, status=InvoiceStatus.UNPAID))


def _sum_of(queryset: QuerySet, field: str) -> Coalesce:
    total = queryset.order_by().values("hub__client").annotate(total=Sum(field)).values("total")
    return Coalesce(Subquery(total, output_field=DecimalField(max_digits=18, decimal_places=6)), ZERO)


def client_rows(*, partner: Partner, query: str = "", sort: str = "name", descending: bool = False) -> QuerySet:
    """The partner's clients, each with this month's usage, its credit balance (all hubs) and the states of its
    latest License and Month Closing invoices — one query, whatever the number of clients."""
    month = clock.month_start(clock.now())
    usage = MessageUsage.objects.filter(hub__client=OuterRef("pk"), period=month, billable=True)
    balances = CreditAccount.objects.filter(hub__client=OuterRef("pk"))
    clients = Client.objects.filter(partner=partner).annotate(
        usage_this_month=_sum_of(usage, "cost"),
        credit_balance=_sum_of(balances, "balance"),
        license_status=_latest_status(LICENSE_KINDS),
        license_unpaid=_any_unpaid(LICENSE_KINDS),
        mci_status=_latest_status([InvoiceKind.MONTH_CLOSING]),
        mci_unpaid=_any_unpaid([InvoiceKind.MONTH_CLOSING]),
    )
    if query:
        clients = clients.filter(Q(company_name__icontains=query) | Q(billing_email__icontains=query))
    order = CLIENT_SORTS.get(sort, CLIENT_SORTS["name"])
    return clients.order_by(f"-{order}" if descending else order, "pk")


def restrictions_by_client(*, client_ids: Sequence[int]) -> dict[int, list[Restriction]]:
    """Active restrictions of these clients' hubs (one query)."""
    found: dict[int, list[Restriction]] = defaultdict(list)
    rows = Restriction.objects.filter(hub__client_id__in=list(client_ids), lifted_at__isnull=True).select_related("hub")
    for row in rows.order_by("started_at", "pk"):
        found[row.hub.client_id].append(row)
    return found


def partner_client_get(*, partner: Partner, client_id: int) -> Client | None:
    return Client.objects.filter(partner=partner, pk=client_id).first()


@dataclass(frozen=True)
class ClientHubRow:
    hub: Hub
    balance: Decimal
    currency: str
    restrictions: list[Restriction]


def client_hubs(*, client: Client) -> list[ClientHubRow]:
    hubs = list(Hub.objects.filter(client=client).select_related("credit_account").order_by("name", "pk"))
    active = defaultdict(list)
    for row in Restriction.objects.filter(hub__client=client, lifted_at__isnull=True).order_by("started_at"):
        active[row.hub_id].append(row)
    return [
        ClientHubRow(hub=hub, balance=hub.credit_account.balance, currency=hub.currency, restrictions=active[hub.pk])
        for hub in hubs
    ]


@dataclass(frozen=True)
class MonthUsage:
    month: dt.date
    by_category: dict[str, Decimal]

    @property
    def total(self) -> Decimal:
        return sum(self.by_category.values(), Decimal(0))


def usage_months(*, client: Client, months: int = USAGE_MONTHS) -> list[MonthUsage]:
    """The client's billable usage cost over its last `months` billing months (oldest first), by category."""
    periods = [clock.month_start(clock.now())]
    for _ in range(months - 1):
        periods.insert(0, clock.month_start(periods[0] - dt.timedelta(days=1)))
    rows = (
        MessageUsage.objects.filter(hub__client=client, period__gte=periods[0], billable=True)
        .order_by()
        .values("period", "category")
        .annotate(total=Sum("cost"))
    )
    by_month: dict[dt.date, dict[str, Decimal]] = {period: {} for period in periods}
    for row in rows:
        if row["period"] in by_month:
            by_month[row["period"]][row["category"]] = row["total"]
    return [MonthUsage(month=period, by_category=by_month[period]) for period in periods]


CATEGORIES = list(Category)
