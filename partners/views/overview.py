"""Partner Hub overview: the plan, the clients at a glance, and what blocks the partner."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from billing.selectors.partners import partner_overview
from portal.scope import partner_required


@partner_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    summary = partner_overview(partner=request.membership.party)
    return render(request, "partners/overview.html", {"summary": summary, "partner": summary.partner})
