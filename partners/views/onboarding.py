"""Partner Hub: onboard a client (refused, with the reason, while the partner's onboarding is blocked)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from billing.onboarding import client_with_hub_onboard
from billing.restrictions import OnboardingBlocked, onboarding_check
from partners.forms import ClientOnboardForm
from portal.scope import partner_required


@partner_required
@require_http_methods(["GET", "POST"])
def client_onboard(request: HttpRequest) -> HttpResponse:
    partner = request.membership.party
    form = ClientOnboardForm(request.POST or None)
    blocked = None
    try:
        onboarding_check(partner_id=partner.pk)
    except OnboardingBlocked as refusal:
        blocked = str(refusal)
    if request.method == "POST":
        if not request.membership.can_manage:
            raise PermissionDenied
        if form.is_valid():
            try:
                client, hub = client_with_hub_onboard(partner=partner, **form.cleaned_data)
            except OnboardingBlocked as refusal:
                blocked = str(refusal)
            except ValidationError as invalid:
                _add_errors(form, invalid)
            else:
                messages.success(
                    request, _("%(client)s is onboarded with hub %(hub)s.") % {"client": client, "hub": hub.hub_id}
                )
                return redirect("partner:client", client.pk)
    context = {"form": form, "blocked": blocked}
    return render(request, "partners/client_onboard.html", context, status=400 if request.method == "POST" else 200)


def _add_errors(form: ClientOnboardForm, invalid: ValidationError) -> None:
    if hasattr(invalid, "error_dict"):
        for field, errors in invalid.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, invalid.messages)
