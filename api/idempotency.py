"""Idempotency-Key on the POSTs that move money: the same key with the same request replays the stored response;
the same key with another request is refused (422); a request whose twin is still running is refused (409).

Only successful responses are kept: a refused request (invalid body, no card) changed nothing, so the client may
fix it and send it again under the same key. The services underneath are idempotent too (the top-up's invoice is
named by the key), so even a crash between the work and storing its response cannot move money twice.
"""

import functools
import hashlib
import json

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from api.errors import Conflict, Unprocessable
from api.models import IdempotentRequest

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    name=HEADER,
    location=OpenApiParameter.HEADER,
    required=False,
    type=str,
    description="Any unique string (a UUID) up to 255 characters. Sending the same request again with the same key "
    "replays the first response instead of doing the work twice; the same key with a different request is a 422.",
)


def request_fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def idempotency_key(request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationError({HEADER: [_("Send a non-empty printable key of at most 255 characters.")]})
    return key


def _claim(request, key: str, fingerprint: str) -> IdempotentRequest | Response:
    """Record the key before the work starts; or the stored response when it was already answered."""
    try:
        with transaction.atomic():
            return IdempotentRequest.objects.create(api_key=request.auth, key=key, fingerprint=fingerprint)
    except IntegrityError:
        pass
    previous = IdempotentRequest.objects.get(api_key=request.auth, key=key)
    if previous.fingerprint != fingerprint:
        raise Unprocessable(
            _("This Idempotency-Key was already used with a different request."), "idempotency_key_reused"
        )
    if previous.response_status is None:
        raise Conflict(
            _("A request with this Idempotency-Key is still being processed."), "idempotency_key_in_progress"
        )
    return Response(previous.response_body, status=previous.response_status, headers={"Idempotent-Replayed": "true"})


def idempotent(view_method):
    """Decorates a DRF view's post(): honours the Idempotency-Key header when one is sent."""

    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = idempotency_key(request)
        if key is None:
            return view_method(self, request, *args, **kwargs)
        claimed = _claim(request, key, request_fingerprint(request))
        if isinstance(claimed, Response):
            return claimed
        try:
            response = view_method(self, request, *args, **kwargs)
        except BaseException:
            claimed.delete()
            raise
        if 200 <= response.status_code < 300:
            IdempotentRequest.objects.filter(pk=claimed.pk).update(
                response_status=response.status_code, response_body=response.data, completed_at=timezone.now()
            )
        else:
            claimed.delete()
        return response

    return wrapper
