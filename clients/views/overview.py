"""Client Hub overview: each hub's credit balance and usage this month, and any active restriction in words."""

from django.shortcuts import render

from billing.forecast import forecasts_for
from billing.selectors import clients as selectors
from portal.scope import client_required


@client_required
def overview(request):
    client = request.membership.party
    summaries = selectors.hub_summaries(client=client)
    forecasts = forecasts_for(hubs=[summary.hub for summary in summaries])
    return render(
        request,
        "clients/overview.html",
        {
            "hubs": summaries,
            "hub_rows": [(summary, forecasts.get(summary.hub.id)) for summary in summaries],
            "restriction_notices": selectors.restriction_notices(client=client),
        },
    )
