"""Every API error in one shape: {"error": {"code": ..., "message": ..., "fields": {...}}}."""

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views.defaults import page_not_found
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from api.parsers import RequestTooLarge


class Conflict(exceptions.APIException):
    """The request is valid but the state of things refuses it (onboarding blocked, no card to charge, a request
    with the same Idempotency-Key still running)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The request conflicts with the current state.")
    default_code = "conflict"


class Unprocessable(exceptions.APIException):
    """Well-formed, but not a request that can be carried out (an Idempotency-Key reused with another request)."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = _("The request cannot be processed.")
    default_code = "unprocessable"


class StripeUnreachable(exceptions.APIException):
    """Stripe, which takes the payment, cannot be reached: the request may be sent again as it is (same
    Idempotency-Key) and is never carried out twice."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Stripe cannot be reached just now; send the same request again later."
    default_code = "stripe_unavailable"
    retry_after = 60


def error_response(*, code: str, message: str, http_status: int, fields: dict | None = None, headers=None) -> Response:
    return Response(
        {"error": {"code": code, "message": message, "fields": fields or {}}}, status=http_status, headers=headers
    )


def _fields(detail) -> dict:
    """DRF's nested ValidationError detail flattened to {"field": ["message", ...]} (non-field errors under "_")."""
    if isinstance(detail, dict):
        return {(key if key and key != "__all__" else "_"): _messages(value) for key, value in detail.items()}
    return {"_": _messages(detail)}


def _messages(detail) -> list | dict:
    if isinstance(detail, dict):
        return {key: _messages(value) for key, value in detail.items()}
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return [str(item) for item in detail]
        return [_messages(item) for item in detail]
    return [str(detail)]


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, RequestDataTooBig):  # Django's own limit, should anything read the body before the parser
        exc = RequestTooLarge()
    elif isinstance(exc, DjangoValidationError):  # a service's full_clean(): the caller's input, field by field
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"_": exc.messages})
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real server error: Django's 500 handling and logging
    if isinstance(exc, exceptions.ValidationError):
        return error_response(
            code="invalid",
            message=_("The request has invalid fields."),
            http_status=status.HTTP_400_BAD_REQUEST,
            fields=_fields(exc.detail),
            headers=response.headers,
        )
    if isinstance(exc, StripeUnreachable):
        response.headers["Retry-After"] = str(exc.retry_after)
    code = exc.get_codes() if hasattr(exc, "get_codes") else "error"
    detail = exc.detail if hasattr(exc, "detail") else str(exc)
    return error_response(
        code=code if isinstance(code, str) else "error",
        message=str(detail),
        http_status=response.status_code,
        headers={k: v for k, v in response.headers.items() if k in ("WWW-Authenticate", "Retry-After", "Allow")},
    )


def not_found(request, exception=None):
    """Django's 404 handler (config/urls.py): an unknown URL under /api/ gets the API's error shape, every other
    URL the portal's page."""
    if request.path.startswith("/api/"):
        body = {"error": {"code": "not_found", "message": _("No API endpoint at this address."), "fields": {}}}
        return JsonResponse(body, status=404)
    return page_not_found(request, exception)
