"""How the API reads a request body: JSON only, of bounded size, never a server error whatever the bytes."""

import json

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser

from core import fastjson


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"

    def __init__(self):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024)
        super().__init__(_("The request body is larger than %(limit)s MB.") % {"limit": f"{limit:g}"})


def body_limit_check(request) -> None:
    """RequestTooLarge when the declared body is over Django's limit (DATA_UPLOAD_MAX_MEMORY_SIZE)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        raise RequestTooLarge


class ApiJSONParser(JSONParser):
    """DRF's JSON parser, bounded: a body over the size limit is 413 before it is read (and a body without a
    Content-Length is read no further than the limit); JSON nested deeper than Python recurses is a parse error."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        if request is not None:
            body_limit_check(request)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestTooLarge
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            standard = lambda: json.loads(raw.decode(encoding), parse_constant=_no_constant)  # noqa: E731
            if encoding.lower().replace("-", "").replace("_", "") != "utf8":
                return standard()
            return fastjson.loads(raw, standard)
        except RecursionError:
            raise exceptions.ParseError(_("JSON parse error - nested too deeply")) from None
        except ValueError as exc:  # also a bad byte (UnicodeDecodeError) and a 5,000-digit integer
            raise exceptions.ParseError(_("JSON parse error - %(reason)s") % {"reason": exc}) from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


class JsonBodyNegotiation(DefaultContentNegotiation):
    """A body without a Content-Type is not taken for JSON: 415, as for any other type the endpoint does not read."""

    def select_parser(self, request, parsers):
        if not request.content_type:
            return None
        return super().select_parser(request, parsers)
