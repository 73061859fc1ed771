"""`Authorization: Bearer <key>`: the request's `auth` is the ApiKey, its `user` an ApiKeyUser for that party."""

import datetime as dt

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from api.keys import api_key_find
from api.models import ApiKey

# last_used_at is written at most this often per key: a key used 2,000 times a second costs one UPDATE a minute.
LAST_USED_EVERY = dt.timedelta(seconds=60)


def key_used(key: ApiKey) -> None:
    """Record that the key was used, cheaply: nothing when the row read for this request is recent enough, else one
    conditional UPDATE that only the first of several concurrent requests wins."""
    now = timezone.now()
    stale = now - LAST_USED_EVERY
    if key.last_used_at is not None and key.last_used_at >= stale:
        return
    ApiKey.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale), pk=key.pk).update(last_used_at=now)
    key.last_used_at = now


class ApiKeyUser(AnonymousUser):
    """Stands for the party holding the key: authenticated, but never a Django user with permissions."""

    def __init__(self, key: ApiKey):
        self.key = key

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def __str__(self) -> str:
        return f"api-key:{self.key.pk}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Send the key as 'Authorization: Bearer <key>'."))
        try:
            plaintext = header[1].decode()
        except UnicodeError as error:
            raise exceptions.AuthenticationFailed(_("The API key contains invalid characters.")) from error
        key = api_key_find(plaintext)
        if key is None:
            raise exceptions.AuthenticationFailed(_("Unknown or revoked API key."))
        key_used(key)
        return ApiKeyUser(key), key

    def authenticate_header(self, request) -> str:
        return self.keyword
