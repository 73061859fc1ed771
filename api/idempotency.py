"""Idempotency-Key on the POSTs that move money. A key names one request (method, path and body) for its whole life:

- the same key with another request is refused (422), always — whatever became of the first one;
- the same key with the same request replays the stored response once one succeeded (2xx);
- the same request after one that did not succeed (a 4xx it may have fixed meanwhile, such as no card; a 5xx such
  as Stripe unreachable) is carried out again: a retry of the same request;
- a request whose twin is still running is refused (409).

The services underneath are idempotent too (the top-up's invoice is named by the key), so even a crash between the
work and storing its response cannot move money twice.
"""

import functools
import hashlib
import json

from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import APIException, ValidationError
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
    pattern=r"^[!-~]([ -~]{0,253}[!-~])?$",  # printable ASCII, as HTTP carries it (outer spaces are stripped)
    description="Any unique string (a UUID) up to 255 characters; it names one request for good. The same request "
    "with the same key replays the first successful response instead of doing the work twice (and, after an error "
    "such as a 503, carries the request out again); the same key with a different request is always a 422.",
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
    if previous.response_status is not None and 200 <= previous.response_status < 300:
        return Response(
            previous.response_body, status=previous.response_status, headers={"Idempotent-Replayed": "true"}
        )
    # The same request again after one that did not succeed: run it again, holding the key for this run (a twin
    # running meanwhile sees it in progress).
    retried = (
        previous.response_status is not None
        and IdempotentRequest.objects.filter(pk=previous.pk, response_status=previous.response_status).update(
            response_status=None, response_body=None, completed_at=None
        )
        == 1
    )
    if not retried:
        raise Conflict(
            _("A request with this Idempotency-Key is still being processed."), "idempotency_key_in_progress"
        )
    return previous


def _answered(claimed: IdempotentRequest, response_status: int, body) -> None:
    """Keep how the request ended; only a success's body is replayed, so the key stays bound to its request."""
    success = 200 <= response_status < 300
    IdempotentRequest.objects.filter(pk=claimed.pk).update(
        response_status=response_status, response_body=body if success else None, completed_at=timezone.now()
    )


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
        except APIException as refused:  # answered by DRF's exception handler, in the error shape
            _answered(claimed, refused.status_code, None)
            raise
        except Http404:
            _answered(claimed, 404, None)
            raise
        except BaseException:
            _answered(claimed, 500, None)
            raise
        _answered(claimed, response.status_code, response.data)
        return response

    return wrapper
