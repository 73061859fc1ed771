"""Stripe's webhook endpoint (/stripe/webhook/): verify the signature, store the event once, handle it."""

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing import stripe_api
from billing.payments.events import stripe_event_receive

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    try:
        event = stripe_api.webhook_event(payload=request.body, signature=request.headers.get("Stripe-Signature"))
    except stripe_api.WebhookInvalid as invalid:
        return HttpResponseBadRequest(str(invalid), content_type="text/plain")
    try:
        row = stripe_event_receive(event=event)
    except Exception:  # noqa: BLE001 -- kept on the event; the error status makes Stripe deliver it again
        logger.exception("stripe event %s (%s) failed", event.get("id"), event.get("type"))
        return JsonResponse({"id": event.get("id"), "status": "failed"}, status=500)
    return JsonResponse({"id": row.pk, "status": row.status})
