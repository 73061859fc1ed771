import zoneinfo

from django.conf import settings
from django.utils import timezone


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
