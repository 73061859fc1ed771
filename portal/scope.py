"""Who is asking, for which party, with which role. Every Client Hub and Partner Hub page goes through here.

A user belongs to one client (ClientMembership) or one partner (PartnerMembership). Pages take the party from the
membership, never from the URL, and look rows up inside that party: another party's invoice number or hub id gives
404 because the row is not in the queryset, not because of a later permission check.
"""

from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from clients.models import Client
from core.company import Role
from partners.models import Partner

# Roles allowed to move money or change billing settings; viewers only look.
MANAGE_ROLES = (Role.OWNER, Role.BILLING)


@dataclass(frozen=True)
class Membership:
    kind: str  # "client" | "partner"
    party: Client | Partner
    role: str

    @property
    def can_manage(self) -> bool:
        return self.role in MANAGE_ROLES

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER


def membership_of(user) -> Membership | None:
    if not user.is_authenticated:
        return None
    client_membership = getattr(user, "client_membership", None)
    if client_membership is not None:
        return Membership("client", client_membership.client, client_membership.role)
    partner_membership = getattr(user, "partner_membership", None)
    if partner_membership is not None:
        return Membership("partner", partner_membership.partner, partner_membership.role)
    return None


def _party_required(kind: str, roles: tuple[str, ...] | None):
    def decorator(view):
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            membership = membership_of(request.user)
            if membership is None or membership.kind != kind:
                raise PermissionDenied
            if roles is not None and membership.role not in roles:
                raise PermissionDenied
            request.membership = membership
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def client_required(view=None, *, roles: tuple[str, ...] | None = None):
    """A Client Hub page: `request.membership.party` is the user's Client. `roles` narrows who may use it."""
    decorator = _party_required("client", roles)
    return decorator(view) if view is not None else decorator


def partner_required(view=None, *, roles: tuple[str, ...] | None = None):
    """A Partner Hub page: `request.membership.party` is the user's Partner."""
    decorator = _party_required("partner", roles)
    return decorator(view) if view is not None else decorator
