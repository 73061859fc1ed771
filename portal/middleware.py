import zoneinfo

from django.conf import settings
from django.http import Http404, HttpResponseBadRequest, JsonResponse
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation.trans_real import parse_accept_lang_header

from portal.scope import membership_of


def supported_language(code: str | None) -> str | None:
    """One of settings.LANGUAGES for a code such as "de-AT" or "pt-BR", or None."""
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code.lower())
    except LookupError:
        return None


def browser_language(request) -> str | None:
    """The first language of the browser's Accept-Language that the portal speaks."""
    for code, _quality in parse_accept_lang_header(request.headers.get("Accept-Language", "")):
        found = supported_language(code) if code != "*" else None
        if found:
            return found
    return None


def person_language(request) -> str:
    """Which language a page is in: the person's choice in Preferences; else the choice made in the page footer
    (a cookie, so it works signed out: sign-in and password reset); else the browser's Accept-Language; else the
    language of the person's client or partner; else English."""
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    profile = getattr(user, "profile", None) if signed_in else None
    chosen = supported_language(getattr(profile, "language", "")) or supported_language(
        request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    )
    if chosen:
        return chosen
    found = browser_language(request)
    if found:
        return found
    membership = membership_of(user) if signed_in else None
    if membership is not None:
        return supported_language(membership.party.billing_language) or settings.LANGUAGE_CODE
    return settings.LANGUAGE_CODE


class PersonLanguageMiddleware:
    """Activates `person_language` for the request; the URL carries no language prefix."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = person_language(request)
        previous = translation.get_language()
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
        try:
            response = self.get_response(request)
        finally:
            translation.activate(previous) if previous else translation.deactivate()  # a thread serves many
        patch_vary_headers(response, ("Accept-Language", "Cookie"))
        response.headers.setdefault("Content-Language", language)
        return response


class NulByteMiddleware:
    """A NUL byte in the path or a query parameter names nothing (PostgreSQL cannot even compare a text with one):
    the path is a 404, the parameter a 400, before any view queries with it. Under /api/ in the API's error shape."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path:
            raise Http404(_("No page at this address."))
        if any("\x00" in key or "\x00" in value for key, values in request.GET.lists() for value in values):
            if request.path.startswith("/api/"):
                body = {"error": {"code": "invalid", "message": _("A query parameter holds a NUL byte."), "fields": {}}}
                return JsonResponse(body, status=400)
            return HttpResponseBadRequest(_("A query parameter holds a NUL byte."), content_type="text/plain")
        return self.get_response(request)


class PrivateNoStoreMiddleware:
    """`Cache-Control: private, no-store` on every response under PRIVATE_PATH_PREFIXES (the hubs' pages, their
    invoice PDFs, the API): one party's data is kept by no shared cache, and not on the disk of the browser."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path_info.startswith(settings.PRIVATE_PATH_PREFIXES):
            response["Cache-Control"] = "private, no-store"
        return response


class UserTimezoneMiddleware:
    """Shows dates in the signed-in person's timezone (UserProfile.timezone); UTC otherwise."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            profile = getattr(user, "profile", None)
            name = profile.timezone if profile is not None else None
        if name:
            timezone.activate(zoneinfo.ZoneInfo(name))
        else:
            timezone.deactivate()
        return self.get_response(request)
