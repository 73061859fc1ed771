from rest_framework.permissions import BasePermission

from api.models import ApiKey, ApiKeyKind


class _KeyOfKind(BasePermission):
    kind: str

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiKey) and request.auth.kind == self.kind


class ClientKey(_KeyOfKind):
    """A client's key: `request.auth.client` is the only client it sees."""

    kind = ApiKeyKind.CLIENT


class PartnerKey(_KeyOfKind):
    """A partner's key: its own plan invoices and its clients' usage and status, never client invoices."""

    kind = ApiKeyKind.PARTNER


class ServiceKey(_KeyOfKind):
    """The messaging platform's key (made by staff): usage events and send permission, for any hub."""

    kind = ApiKeyKind.SERVICE
