"""Client Hub overview: each hub's credit balance and usage this month, and any active restriction in words."""

from django.shortcuts import render

from billing.selectors import clients as selectors
from portal.scope import client_required


@client_required
def overview(request):
    client = request.membership.party
    return render(
        request,
        "clients/overview.html",
        {
            "hubs": selectors.hub_summaries(client=client),
            "restriction_notices": selectors.restriction_notices(client=client),
        },
    )
