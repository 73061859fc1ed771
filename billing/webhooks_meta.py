"""Meta's WhatsApp Cloud API webhook endpoint (/webhooks/meta/): the subscription check (GET) and notifications
(POST, signed with the app secret). Every signed POST is answered 200 (Meta retries any other answer for days);
what is not rated is kept as a skip for staff. A bad or missing signature is answered 401 and nothing is stored."""

import json
import logging

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from billing.usage.meta_webhooks import meta_signature_valid, meta_verification_answer, meta_webhook_ingest

logger = logging.getLogger(__name__)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def meta_webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        challenge = meta_verification_answer(
            mode=request.GET.get("hub.mode"),
            token=request.GET.get("hub.verify_token"),
            challenge=request.GET.get("hub.challenge"),
        )
        if challenge is None:
            return HttpResponseForbidden("verify token does not match", content_type="text/plain")
        return HttpResponse(challenge, content_type="text/plain")
    if not meta_signature_valid(body=request.body, header=request.headers.get("X-Hub-Signature-256")):
        return HttpResponse("invalid X-Hub-Signature-256", status=401, content_type="text/plain")
    try:
        payload = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        payload = request.body.decode("utf-8", "replace")  # kept as a skip: "not a WhatsApp Business Account webhook"
    result = meta_webhook_ingest(payload=payload)
    return JsonResponse(
        {
            "statuses": result.statuses,
            "recorded": result.usage.accepted,
            "duplicates": result.usage.duplicates,
            "ignored": result.ignored,
            "skipped": result.skipped,
        }
    )
