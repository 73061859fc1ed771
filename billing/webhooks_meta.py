"""Meta's WhatsApp Cloud API webhook endpoint (/webhooks/meta/): the subscription check (GET) and notifications
(POST, signed with the app secret). Every signed POST is stored as received and answered 200 at once (Meta retries
any other answer for days); a drain task queued on commit rates the burst in batches, and what is not rated is kept
as a skip for staff. A bad or missing signature is answered 401 and nothing is stored."""

import logging

from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from billing.tasks import meta_webhooks_drain_task
from billing.usage.meta_webhooks import (
    DRAIN_QUEUED_KEY,
    DRAIN_QUEUED_SECONDS,
    meta_signature_valid,
    meta_verification_answer,
    meta_webhook_receive,
)

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
    received = meta_webhook_receive(body=request.body)
    # robust: a broker or cache that is down must not turn an accepted webhook into a 500 (Meta would send it
    # again); the beat sweep drains what no task picked up.
    transaction.on_commit(_drain_soon, robust=True)
    return JsonResponse({"received": received.pk})


def _drain_soon() -> None:
    """Queue a drain unless one is queued and not yet started: a burst of webhooks queues one task, not one per
    webhook (a task publish costs more than storing the webhook). The task forgets the mark before it reads the
    inbox, so a webhook committed after that queues the next drain; the mark expires if its task is lost."""
    if cache.add(DRAIN_QUEUED_KEY, 1, timeout=DRAIN_QUEUED_SECONDS):
        meta_webhooks_drain_task.delay()
