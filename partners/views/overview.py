"""Partner Hub overview: the plan, the clients at a glance, the clients at risk, and what blocks the partner."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from billing.partner_risk import clients_at_risk
from billing.selectors.partners import partner_overview
from partners.models import PartnerMembership
from partners.services import risk_digest_set
from portal.scope import partner_required


@partner_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    summary = partner_overview(partner=request.membership.party)
    context = {
        "summary": summary,
        "partner": summary.partner,
        "at_risk": clients_at_risk(partner=request.membership.party),
        "risk_digest": PartnerMembership.objects.filter(user=request.user).values_list("risk_digest", flat=True)[0],
    }
    return render(request, "partners/overview.html", context)


@partner_required
@require_POST
def risk_digest(request: HttpRequest) -> HttpResponse:
    """Any partner user decides for themselves whether the weekly email comes."""
    wanted = request.POST.get("risk_digest") == "on"
    risk_digest_set(user_id=request.user.pk, wanted=wanted)
    messages.success(request, _("The weekly clients-at-risk email is on.") if wanted else
                     _("The weekly clients-at-risk email is off."))  # fmt: skip
    return redirect("partner:overview")
