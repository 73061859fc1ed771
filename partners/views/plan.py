"""Partner Hub: the Partner Plan (Growth / Premium); a change applies from next month's Partner Plan invoice."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from billing import formats
from partners.forms import PlanChangeForm
from partners.models import Partner
from partners.services import partner_plan_change, plan_applies_from
from portal.scope import partner_required


@partner_required
@require_http_methods(["GET", "POST"])
def plan(request: HttpRequest) -> HttpResponse:
    partner = Partner.objects.select_related("plan").get(pk=request.membership.party.pk)
    form = PlanChangeForm(request.POST or None, initial={"plan": partner.plan})
    if request.method == "POST":
        if not request.membership.can_manage:
            raise PermissionDenied
        if form.is_valid():
            change = partner_plan_change(partner=partner, plan=form.cleaned_data["plan"], changed_by_id=request.user.pk)
            if change.previous == change.plan:
                messages.info(request, _("You are already on the %(plan)s plan.") % {"plan": change.plan})
            else:
                applies = formats.day(change.applies_from)
                messages.success(
                    request,
                    _("Your plan is now %(plan)s. Applies from the invoice of %(date)s.")
                    % {"plan": change.plan, "date": applies},
                )
            return redirect("partner:plan")
    plans = form.fields["plan"].queryset
    context = {"partner": partner, "form": form, "plans": plans, "applies_from": plan_applies_from()}
    return render(request, "partners/plan.html", context, status=400 if request.method == "POST" else 200)
