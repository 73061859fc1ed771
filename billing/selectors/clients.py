"""Reads for the Client Hub pages. Every function takes the client (the membership's party) and looks rows up inside
it, so another client's hub id or invoice number is simply not found (404)."""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.paginator import Page, Paginator
from django.db.models import Count, Max, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.http import Http404
from django.urls import reverse

from billing.models import (
    Category,
    CreditAccount,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    LedgerEntry,
    MessageUsage,
    PaymentAttempt,
    PaymentMethod,
    PaymentMethodKind,
    Restriction,
    RestrictionReason,
)
from billing.restrictions import LICENSE_KINDS
from billing.selectors.invoices import party_invoices
from clients.models import Client
from core import clock
from hub.models import Hub, PhoneNumber, Waba
from partners.models import Partner

PAGE_SIZE = 25
ZERO = Decimal("0")


# Hubs and balances -------------------------------------------------------------------------------------------------


def client_hubs(*, client: Client) -> list[Hub]:
    """The client's hubs, each with its credit account, in one query."""
    return list(Hub.objects.filter(client=client).select_related("credit_account").order_by("created_at", "id"))


def hub_of_client(*, client: Client, hub_id: str | None) -> Hub:
    """The hub named by its public id (HUB-…) inside the client; the first hub when none is named. 404 otherwise."""
    hubs = Hub.objects.filter(client=client).select_related("credit_account").order_by("created_at", "id")
    hub = hubs.filter(hub_id=hub_id).first() if hub_id else hubs.first()
    if hub is None:
        raise Http404("No such hub.")
    return hub


def usage_this_month(*, hub_ids: list[int], month: dt.date | None = None) -> dict[int, Decimal]:
    """Each hub's rated usage cost this billing month so far (an estimate until the Month Closing Invoice)."""
    month = month or clock.month_start(clock.now())
    rows = (
        MessageUsage.objects.filter(hub_id__in=hub_ids, period=month)
        .values("hub_id")
        .annotate(cost=Sum("cost"))
        .order_by()
    )
    totals = {hub_id: ZERO for hub_id in hub_ids}
    totals.update({row["hub_id"]: row["cost"] or ZERO for row in rows})
    return totals


@dataclass(frozen=True)
class HubSummary:
    hub: Hub
    account: CreditAccount
    usage_this_month: Decimal


def hub_summaries(*, client: Client) -> list[HubSummary]:
    hubs = client_hubs(client=client)
    usage = usage_this_month(hub_ids=[hub.id for hub in hubs])
    return [HubSummary(hub, hub.credit_account, usage[hub.id]) for hub in hubs]


# Restrictions banner (shared with the Partner Hub) -----------------------------------------------------------------


@dataclass(frozen=True)
class RestrictionNotice:
    """One active block in words: what is paused, why, and what to do (`action_url`)."""

    reason: str
    hub_name: str = ""
    balance: Decimal | None = None
    currency: str = ""
    invoice_number: str = ""
    action_url: str = ""
    detail: str = ""
    own: bool = True  # worded for the party that can act ("Your …"); False: a partner looking at its client


def restriction_notices(
    *, client: Client | None = None, partner: Partner | None = None, hub_ids: list[int] | None = None,
    links: str = "client",
) -> list[RestrictionNotice]:  # fmt: skip
    """The active restrictions of a client's hubs (or of the given hubs) or of a partner, for
    templates/portal/_restrictions.html. Three queries whatever the number of hubs. `links="client"` points the
    notices at the Client Hub's Funds and Pay pages (a partner's own plan block at its Pay page); `links=""` gives
    none and words the notices for a partner looking at its clients' hubs."""
    rows = Restriction.objects.filter(lifted_at__isnull=True)
    if partner is not None:
        rows = rows.filter(partner=partner)
    elif hub_ids is not None:
        rows = rows.filter(hub_id__in=hub_ids)
    else:
        rows = rows.filter(hub__client=client)
    rows = list(rows.select_related("hub__credit_account").order_by("started_at", "id"))
    if not rows:
        return []
    unpaid = _unpaid_numbers(rows)
    several_hubs = len({row.hub_id for row in rows if row.hub_id}) > 1 or (
        client is not None and Hub.objects.filter(client=client).count() > 1
    )
    return [_notice(row, unpaid, several_hubs, links) for row in rows]


def _unpaid_numbers(rows: list[Restriction]) -> dict[tuple[str, int], str]:
    """The unpaid invoice behind each invoice block, by ("hub"|"partner", id)."""
    hub_ids = [r.hub_id for r in rows if r.reason == RestrictionReason.LICENSE_UNPAID]
    partner_ids = [r.partner_id for r in rows if r.reason == RestrictionReason.PARTNER_PLAN_UNPAID]
    if not hub_ids and not partner_ids:
        return {}
    invoices = Invoice.objects.filter(status=InvoiceStatus.UNPAID).filter(
        Q(hub_id__in=hub_ids, kind__in=LICENSE_KINDS) | Q(partner_id__in=partner_ids, kind=InvoiceKind.PARTNER_PLAN)
    )
    found = {}
    rows = invoices.order_by("issued_at", "id").values_list("hub_id", "partner_id", "number")
    for hub_id, partner_id, number in rows:
        found.setdefault(("hub", hub_id) if hub_id else ("partner", partner_id), number)
    return found


def _notice(row: Restriction, unpaid: dict, several_hubs: bool, links: str) -> RestrictionNotice:
    hub = row.hub
    common = {"reason": row.reason, "detail": row.detail, "hub_name": hub.name if hub and several_hubs else "",
              "own": bool(links)}  # fmt: skip
    if row.reason == RestrictionReason.CREDIT_BALANCE_DEPLETED:
        account = hub.credit_account
        url = f"{reverse('client:funds')}?hub={hub.hub_id}" if links == "client" else ""
        return RestrictionNotice(**common, balance=account.balance, currency=account.currency, action_url=url)
    subject = ("hub", row.hub_id) if row.hub_id else ("partner", row.partner_id)
    number = unpaid.get(subject, "")
    url = ""
    if number and links:
        url = reverse(f"{'partner' if row.partner_id else 'client'}:invoice-pay", args=[number])
    return RestrictionNotice(**common, invoice_number=number, action_url=url)


# Invoices ----------------------------------------------------------------------------------------------------------

CLIENT_INVOICE_KINDS = [kind for kind in InvoiceKind if kind != InvoiceKind.PARTNER_PLAN]
SHOWN_STATUSES = [InvoiceStatus.PENDING, InvoiceStatus.UNPAID, InvoiceStatus.PAID, InvoiceStatus.VOID]
LIST_FIELDS = ("id", "number", "kind", "status", "period_start", "period_end", "currency", "total", "issued_at",
               "due_date", "hub__name", "hub__hub_id")  # fmt: skip


def issued_invoices(*, client: Client) -> QuerySet[Invoice]:
    """The client's issued invoices (never drafts): `party_invoices`, the same set the API and downloads use."""
    return party_invoices(party=client)


def invoice_page(
    *, client: Client, kind: str = "", status: str = "", month: dt.date | None = None, page: str | int = 1,
    per_page: int = PAGE_SIZE,
) -> Page:  # fmt: skip
    """One page of the invoice list, filtered. Two queries (count, rows) whatever the page size."""
    invoices = issued_invoices(client=client).select_related("hub").only(*LIST_FIELDS)
    if kind:
        invoices = invoices.filter(kind=kind)
    if status:
        invoices = invoices.filter(status=status)
    if month:
        invoices = invoices.filter(period_start__gte=month, period_start__lt=clock.next_month(month))
    return Paginator(invoices.order_by("-issued_at", "-id"), per_page).get_page(page)


def invoices_for_export(
    *, client: Client, kind: str = "", status: str = "", month: dt.date | None = None
) -> QuerySet[Invoice]:
    """Every invoice the list shows with these filters (not one page), newest first. One query."""
    invoices = issued_invoices(client=client).select_related("hub")
    if kind:
        invoices = invoices.filter(kind=kind)
    if status:
        invoices = invoices.filter(status=status)
    if month:
        invoices = invoices.filter(period_start__gte=month, period_start__lt=clock.next_month(month))
    return invoices.order_by("-issued_at", "-id")


@dataclass
class InvoiceDetail:
    invoice: Invoice
    lines: list = field(default_factory=list)
    payments: list = field(default_factory=list)
    credit_notes: list = field(default_factory=list)


def invoice_of_client(*, client: Client, number: str) -> Invoice:
    invoice = issued_invoices(client=client).select_related("hub").filter(number=number).first()
    if invoice is None:
        raise Http404("No such invoice.")
    return invoice


def invoice_detail(*, client: Client, number: str) -> InvoiceDetail:
    invoice = invoice_of_client(client=client, number=number)
    return InvoiceDetail(
        invoice=invoice,
        lines=list(invoice.lines.order_by("position")),
        payments=list(PaymentAttempt.objects.filter(invoice=invoice).order_by("-created_at", "-id")),
        credit_notes=list(invoice.credit_notes.order_by("issued_at")),
    )


# Funds: ledger, charts, usage breakdown -----------------------------------------------------------------------------


def ledger_page(*, account: CreditAccount, page: str | int = 1, per_page: int = PAGE_SIZE) -> Page:
    """The account's entries, newest first, with the balance after each. Two queries whatever the page size."""
    entries = LedgerEntry.objects.filter(account=account).only(
        "id", "kind", "amount", "currency", "balance_after", "occurred_at", "posted_at", "reference", "memo",
        "sequence", "period",
    ).order_by("-sequence")  # fmt: skip
    return Paginator(entries, per_page).get_page(page)


def month_days(month: dt.date, today: dt.date) -> list[dt.date]:
    """The days of the billing month up to today (all of them for a past month)."""
    last = min(clock.next_month(month) - dt.timedelta(days=1), today)
    return [month + dt.timedelta(days=n) for n in range((last - month).days + 1)]


def daily_balances(*, account: CreditAccount, month: dt.date) -> list[tuple[dt.date, Decimal]]:
    """The balance at the end of each UTC day of the month so far: the last entry posted by then. Two queries."""
    start, end = clock.period_bounds(month)
    entries = LedgerEntry.objects.filter(account=account)
    opening = entries.filter(posted_at__lt=start).order_by("-sequence").values_list("balance_after", flat=True).first()
    last_of_day = (
        entries.filter(posted_at__gte=start, posted_at__lt=end)
        .annotate(day=TruncDate("posted_at", tzinfo=dt.UTC))
        .values("day")
        .annotate(last=Max("sequence"))
        .values("last")
    )
    closing = dict(
        entries.filter(sequence__in=last_of_day)
        .annotate(day=TruncDate("posted_at", tzinfo=dt.UTC))
        .values_list("day", "balance_after")
    )
    balance, series = opening if opening is not None else ZERO, []
    for day in month_days(month, clock.now().astimezone(dt.UTC).date()):
        balance = closing.get(day, balance)
        series.append((day, balance))
    return series


def opening_balance(*, account: CreditAccount, month: dt.date) -> Decimal:
    """The balance when the month began: the last entry posted before it. One query."""
    start, _end = clock.period_bounds(month)
    found = (
        LedgerEntry.objects.filter(account=account, posted_at__lt=start)
        .order_by("-sequence")
        .values_list("balance_after", flat=True)
        .first()
    )
    return found if found is not None else ZERO


def daily_usage(*, hub: Hub, month: dt.date) -> dict[dt.date, dict[str, Decimal]]:
    """Usage cost per UTC day and category this month. One query."""
    rows = (
        MessageUsage.objects.filter(hub_id=hub.id, period=month, billable=True)
        .annotate(day=TruncDate("sent_at", tzinfo=dt.UTC))
        .values("day", "category")
        .annotate(cost=Sum("cost"))
        .order_by()
    )
    found: dict[dt.date, dict[str, Decimal]] = {}
    for row in rows:
        found.setdefault(row["day"], {})[row["category"]] = row["cost"]
    return found


def usage_breakdown(*, hub: Hub, month: dt.date) -> list[dict]:
    """Usage this month by WABA, number, category and market: messages, billable messages and cost. One query."""
    rows = list(
        MessageUsage.objects.filter(hub_id=hub.id, period=month)
        .values("waba__name", "waba__meta_waba_id", "phone_number__e164", "category", "market")
        .annotate(messages=Count("id"), billable=Count("id", filter=Q(billable=True)), cost=Sum("cost"))
        .order_by("waba__name", "phone_number__e164", "category", "market")
    )
    labels = dict(Category.choices)
    for row in rows:
        row["category_label"] = labels.get(row["category"], row["category"])
    return rows


# Charts: shapes for server-rendered inline SVG (no JavaScript) ----------------------------------------------------

CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 640, 200, 56
CATEGORY_COLOURS = {
    Category.MARKETING: "#0b6e4f",
    Category.MARKETING_LITE: "#3cb88a",
    Category.UTILITY: "#2e90fa",
    Category.AUTHENTICATION: "#f79009",
    Category.AUTHENTICATION_INTERNATIONAL: "#dc6803",
    Category.SERVICE: "#9e77ed",
    Category.REFERRAL_CONVERSION: "#ee46bc",
}
OTHER_COLOUR = "#98a2b3"


@dataclass
class Chart:
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    pad: int = CHART_PAD
    points: str = ""  # a polyline
    bars: list = field(default_factory=list)  # rects: x, y, w, h, colour, title
    dots: list = field(default_factory=list)  # circles: x, y, day, balance
    ticks: list = field(default_factory=list)  # x-axis labels: x, text
    grid: list = field(default_factory=list)  # y-axis lines: y, value
    zero_y: Decimal | None = None
    legend: list = field(default_factory=list)  # (label, colour)
    empty: bool = True


PIXEL = Decimal("0.1")


def _scale(low: Decimal, high: Decimal):
    low, high = min(low, ZERO), max(high, ZERO)
    span = (high - low) or Decimal(1)
    inner = CHART_HEIGHT - 2 * CHART_PAD

    def y(value: Decimal) -> Decimal:  # an SVG coordinate, to a tenth of a pixel
        return (CHART_PAD + (high - value) * inner / span).quantize(PIXEL)

    levels = sorted({low, (low + high) / 2, high}) if high != low else [low]
    return y, [(y(v), v) for v in levels]


def _x(index: int, count: int) -> float:
    inner = CHART_WIDTH - 2 * CHART_PAD
    return round(CHART_PAD + inner * (index + 0.5) / max(count, 1), 1)


def _ticks(days: list[dt.date]) -> list[tuple[float, str]]:
    step = max(1, len(days) // 8)
    return [(_x(i, len(days)), str(day.day)) for i, day in enumerate(days) if i % step == 0]


def balance_chart(series: list[tuple[dt.date, Decimal]], opening: Decimal | None = None) -> Chart:
    """The line starts at the month's opening balance on the left edge and has a point (a dot with its figure)
    at the end of every day so far, so even the first day of a month draws a line and a point at its balance."""
    if not series:
        return Chart()
    values = [balance for _, balance in series]
    start = values[0] if opening is None else opening
    y, grid = _scale(min(*values, start), max(*values, start))
    points = [f"{CHART_PAD},{y(start)}"] + [f"{_x(i, len(series))},{y(v)}" for i, v in enumerate(values)]
    dots = [{"x": _x(i, len(series)), "y": y(v), "day": day, "balance": v} for i, (day, v) in enumerate(series)]
    days = [day for day, _ in series]
    return Chart(points=" ".join(points), dots=dots, ticks=_ticks(days), grid=grid, zero_y=y(ZERO), empty=False)


def usage_chart(days: list[dt.date], usage: dict[dt.date, dict[str, Decimal]]) -> Chart:
    """Stacked bars of each day's usage cost by category."""
    totals = [sum(usage.get(day, {}).values(), ZERO) for day in days]
    if not days or not any(totals):
        return Chart(ticks=_ticks(days))
    y, grid = _scale(ZERO, max(totals))
    width = max(2.0, round((CHART_WIDTH - 2 * CHART_PAD) / len(days) * 0.7, 1))
    bars, seen = [], {}
    for index, day in enumerate(days):
        base = ZERO
        for category, cost in sorted(usage.get(day, {}).items()):
            colour = CATEGORY_COLOURS.get(category, OTHER_COLOUR)
            seen[category] = colour
            top, bottom = y(base + cost), y(base)
            bars.append({"x": round(_x(index, len(days)) - width / 2, 1), "y": top, "w": width,
                         "h": bottom - top, "colour": colour, "day": day, "category": category,
                         "cost": cost})  # fmt: skip
            base += cost
    labels = dict(Category.choices)
    legend = [(labels.get(category, category), colour) for category, colour in sorted(seen.items())]
    return Chart(bars=bars, ticks=_ticks(days), grid=grid, zero_y=y(ZERO), legend=legend, empty=False)


def client_has_card(*, client: Client) -> bool:
    return PaymentMethod.objects.filter(client=client, kind=PaymentMethodKind.CARD).exists()


# Numbers ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberRow:
    number: PhoneNumber
    licensed_until: dt.date | None  # last day of the latest month the license is invoiced for
    removed_after: dt.date | None  # a pending deletion takes effect at the end of this day (month end, UTC)


@dataclass(frozen=True)
class WabaSection:
    waba: Waba
    rows: list[NumberRow]
    license_unpaid: Restriction | None


def _last_day(month: dt.date) -> dt.date:
    return clock.next_month(month) - dt.timedelta(days=1)


def number_row(number: PhoneNumber) -> NumberRow:
    licensed_until = _last_day(number.licensed_through) if number.licensed_through else None
    removed_after = None
    if number.status == PhoneNumber.Status.PENDING_DELETION and number.deletion_requested_at:
        removed_after = _last_day(clock.month_start(number.deletion_requested_at))
    return NumberRow(number, licensed_until, removed_after)


def numbers_of(client: Client) -> list[WabaSection]:
    """The client's WABAs with their live numbers and each hub's active LICENSE_UNPAID block. Three queries."""
    live = PhoneNumber.objects.exclude(status=PhoneNumber.Status.DELETED).select_related("tier")
    wabas = (
        Waba.objects.filter(hub__client=client)
        .select_related("hub")
        .prefetch_related(Prefetch("numbers", queryset=live))
        .order_by("hub__hub_id", "name", "meta_waba_id")
    )
    unpaid = {
        r.hub_id: r
        for r in Restriction.objects.filter(
            hub__client=client, reason=RestrictionReason.LICENSE_UNPAID, lifted_at__isnull=True
        )
    }
    return [WabaSection(w, [number_row(n) for n in w.numbers.all()], unpaid.get(w.hub_id)) for w in wabas]
