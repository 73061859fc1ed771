"""Reads for the Partner Hub. A partner sees its own Partner Plan invoices and its clients' usage and billing status,
never its clients' invoices: the client list carries the state of their latest invoices, not the invoices."""

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    Case,
    CharField,
    Count,
    DecimalField,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from billing.models import Category, CreditAccount, Invoice, InvoiceKind, InvoiceStatus, MessageUsage, Restriction
from billing.restrictions import LICENSE_KINDS
from billing.selectors.clients import RestrictionNotice, restriction_notices
from billing.selectors.invoices import party_invoices
from clients.models import Client
from core import clock
from hub.models import Hub
from partners.models import Partner

ZERO = Value(Decimal(0), output_field=DecimalField(max_digits=18, decimal_places=6))
CLIENT_SORTS = {"name": "company_name", "usage": "usage_this_month", "balance": "credit_balance"}
USAGE_MONTHS = 6


def plan_invoices(*, partner: Partner) -> QuerySet[Invoice]:
    """The partner's own issued Partner Plan invoices, newest first."""
    return party_invoices(party=partner).order_by("-period_start", "-id")


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


def _sum_of(queryset: QuerySet, field: str) -> Coalesce:
    total = queryset.order_by().values("hub__client").annotate(total=Sum(field)).values("total")
    return Coalesce(Subquery(total, output_field=DecimalField(max_digits=18, decimal_places=6)), ZERO)


def client_rows(*, partner: Partner, query: str = "", sort: str = "name", descending: bool = False) -> QuerySet:
    """The partner's clients, each with this month's usage and its credit balance (all hubs), sortable — one query,
    whatever the number of clients. Their billing status is `client_billing_statuses`."""
    month = clock.month_start(clock.now())
    usage = MessageUsage.objects.filter(hub__client=OuterRef("pk"), period=month, billable=True)
    balances = CreditAccount.objects.filter(hub__client=OuterRef("pk"))
    clients = clients_with_billing_status(Client.objects.filter(partner=partner)).annotate(
        usage_this_month=_sum_of(usage, "cost"),
        credit_balance=_sum_of(balances, "balance"),
    )
    if query:
        clients = clients.filter(Q(company_name__icontains=query) | Q(billing_email__icontains=query))
    order = CLIENT_SORTS.get(sort, CLIENT_SORTS["name"])
    return clients.order_by(f"-{order}" if descending else order, "pk")


@dataclass(frozen=True)
class ClientBillingStatus:
    """What a partner may know of a client's billing: the state of its License and Month Closing invoices (never
    the invoices themselves) and the active restrictions of its hubs. The Partner Hub page and the partner API
    both show this, so they always agree."""

    license_status: str  # unpaid / pending / paid / none
    mci_status: str
    restrictions: tuple[Restriction, ...]

    @property
    def restricted(self) -> bool:
        return bool(self.restrictions)

    def restrictions_of(self, hub_pk: int) -> list[Restriction]:
        return [row for row in self.restrictions if row.hub_id == hub_pk]


def _invoice_state(kinds: Sequence[str]) -> Case:
    """unpaid if any of these invoices is unpaid (something must be done), else pending if any is being charged,
    else paid; none when there is no issued invoice of these kinds."""
    invoices = Invoice.objects.filter(client=OuterRef("pk"), kind__in=kinds)
    return Case(
        *(When(Exists(invoices.filter(status=state)), then=Value(str(state))) for state in STATE_PRECEDENCE),
        default=Value("none"),
        output_field=CharField(),
    )


STATE_PRECEDENCE = (InvoiceStatus.UNPAID, InvoiceStatus.PENDING, InvoiceStatus.PAID)


def clients_with_billing_status(clients: QuerySet[Client]) -> QuerySet[Client]:
    """`clients` with the state of their License and Month Closing invoices, in the same query."""
    return clients.annotate(
        license_status=_invoice_state(LICENSE_KINDS), mci_status=_invoice_state([InvoiceKind.MONTH_CLOSING])
    )


def client_billing_statuses(*, clients: Sequence[Client]) -> dict[int, ClientBillingStatus]:
    """The billing status of each of these clients (read with `clients_with_billing_status`): one query for their
    hubs' active restrictions, whatever their number."""
    active: dict[int, list[Restriction]] = defaultdict(list)
    restrictions = Restriction.objects.filter(hub__client_id__in=[c.pk for c in clients], lifted_at__isnull=True)
    for row in restrictions.select_related("hub").order_by("started_at", "pk"):
        active[row.hub.client_id].append(row)
    return {
        client.pk: ClientBillingStatus(
            license_status=client.license_status, mci_status=client.mci_status, restrictions=tuple(active[client.pk])
        )
        for client in clients
    }


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
