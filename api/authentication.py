"""`Authorization: Bearer <key>`: the request's `auth` is the ApiKey, its `user` an ApiKeyUser for that party."""

from django.contrib.auth.models import AnonymousUser
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from api.keys import api_key_find
from api.models import ApiKey


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
        return ApiKeyUser(key), key

    def authenticate_header(self, request) -> str:
        return self.keyword
