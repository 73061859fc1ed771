"""Partner Hub clients: each client's usage, credit balance and billing status. Never the clients' invoices."""

from dataclasses import dataclass
from decimal import Decimal

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from billing.models import Category
from billing.selectors.partners import (
    MonthUsage,
    client_billing_statuses,
    client_hubs,
    client_rows,
    partner_client_get,
    usage_months,
)
from partners.forms import ClientListForm
from portal.scope import partner_required

PAGE_SIZE = 25
PIXEL = Decimal("0.1")
CHART_HEIGHT, BAR_WIDTH, BAR_GAP, CHART_TOP = 160, 48, 24, 10
CATEGORY_COLOURS = {
    Category.MARKETING: "#2563eb",
    Category.MARKETING_LITE: "#60a5fa",
    Category.UTILITY: "#16a34a",
    Category.AUTHENTICATION: "#d97706",
    Category.AUTHENTICATION_INTERNATIONAL: "#b45309",
    Category.SERVICE: "#7c3aed",
    Category.REFERRAL_CONVERSION: "#db2777",
}


@partner_required
@require_GET
def client_list(request: HttpRequest) -> HttpResponse:
    form = ClientListForm(request.GET)
    options = form.options()
    rows = client_rows(partner=request.membership.party, **options)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    statuses = client_billing_statuses(clients=list(page))
    for client in page:
        client.billing = statuses[client.pk]
    context = {"form": form, "page": page, "currency": request.membership.party.currency, **options}
    return render(request, "partners/clients.html", context)


@dataclass(frozen=True)
class Bar:
    x: int
    y: Decimal
    height: Decimal
    colour: str
    label: str


@dataclass(frozen=True)
class Column:
    month: MonthUsage
    x: int
    bars: list[Bar]


def _usage_chart(months: list[MonthUsage]) -> dict:
    """Stacked bars, one per month, one segment per category, scaled to the highest month."""
    highest = max((month.total for month in months), default=Decimal(0)) or Decimal(1)
    columns = []
    for index, month in enumerate(months):
        x, bottom, bars = BAR_GAP + index * (BAR_WIDTH + BAR_GAP), CHART_TOP + CHART_HEIGHT, []
        for category in Category:
            amount = month.by_category.get(category.value)
            if not amount:
                continue
            height = (amount * CHART_HEIGHT / highest).quantize(PIXEL)  # an SVG length, to a tenth of a pixel
            bottom -= height
            bars.append(Bar(x, bottom, height, CATEGORY_COLOURS[category], category.label))
        columns.append(Column(month, x, bars))
    baseline = CHART_TOP + CHART_HEIGHT
    return {
        "columns": columns,
        "width": BAR_GAP + len(months) * (BAR_WIDTH + BAR_GAP),
        "height": baseline + 24,
        "baseline": baseline,
        "bar_width": BAR_WIDTH,
        "legend": [(c.label, CATEGORY_COLOURS[c]) for c in Category],
    }


@partner_required
@require_GET
def client_detail(request: HttpRequest, client_id: int) -> HttpResponse:
    client = partner_client_get(partner=request.membership.party, client_id=client_id)
    if client is None:
        raise Http404
    months = usage_months(client=client)
    context = {
        "client": client,
        "hubs": client_hubs(client=client),
        "months": months,
        "chart": _usage_chart(months),
        "currency": request.membership.party.currency,
    }
    return render(request, "partners/client_detail.html", context)
