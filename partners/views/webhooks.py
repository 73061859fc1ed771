"""Partner Hub webhooks (owner only): register an HTTPS endpoint (its signing secret is shown once), send a test
event, remove it, and read each endpoint's delivery log with the answers its server gave."""

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from billing.models import WebhookDelivery, WebhookEndpoint
from billing.outbound_webhooks import WebhookUrlError, webhook_endpoint_create, webhook_endpoint_remove
from billing.partner_events import EVENT_TYPES, webhook_test_send
from core.company import Role
from portal.scope import partner_required

NEW_SECRET = "webhook_secret_once"  # noqa: S105 -- the session key, not a secret
LOG_SIZE = 20


class EndpointForm(forms.Form):
    url = forms.CharField(label=gettext_lazy("Endpoint URL"), max_length=500,
                          widget=forms.URLInput(attrs={"placeholder": "https://example.com/webhooks/hub"}))  # fmt: skip


def _endpoints(partner) -> list[WebhookEndpoint]:
    endpoints = list(WebhookEndpoint.objects.filter(partner=partner, active=True).order_by("created_at", "id"))
    for endpoint in endpoints:
        endpoint.log = list(WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-created_at", "-id")[:LOG_SIZE])
    return endpoints


@partner_required(roles=(Role.OWNER,))
@require_http_methods(["GET", "POST"])
def webhook_list(request: HttpRequest) -> HttpResponse:
    partner = request.membership.party
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = webhook_endpoint_create(partner=partner, url=form.cleaned_data["url"],
                                               created_by_id=request.user.pk)  # fmt: skip
        except WebhookUrlError as error:
            form.add_error("url", str(error))
        else:
            request.session[NEW_SECRET] = {"endpoint": endpoint.pk, "secret": endpoint.secret}
            messages.success(request, _("The endpoint is registered."))
            return redirect("partner:webhooks")
    shown = request.session.pop(NEW_SECRET, None)  # the secret is shown on this one page view only
    context = {"form": form, "endpoints": _endpoints(partner), "new_secret": shown, "event_types": EVENT_TYPES}
    return render(request, "partners/webhooks.html", context, status=400 if request.method == "POST" else 200)


@partner_required(roles=(Role.OWNER,))
@require_POST
def webhook_test(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id, partner=request.membership.party, active=True)
    webhook_test_send(endpoint=endpoint)
    messages.success(request, _("A test event is on its way; its delivery shows in the log below."))
    return redirect("partner:webhooks")


@partner_required(roles=(Role.OWNER,))
@require_POST
def webhook_remove(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id, partner=request.membership.party, active=True)
    webhook_endpoint_remove(endpoint=endpoint)
    messages.success(request, _("The endpoint is removed; no more events are sent to it."))
    return redirect("partner:webhooks")
