"""API keys pages of the Client Hub and the Partner Hub (/client/api-keys/, /partner/api-keys/).

A new key is shown once, on the response to its creation, and never again: only its SHA-256 is stored.
Owners and billing users create and revoke keys; viewers see the list.
"""

from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from api.keys import api_key_create, api_key_revoke
from api.models import ApiKey
from portal.scope import membership_of


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("What uses the key, e.g. “ERP export”. Only you see it."),
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError(_("Give the key a name."))
        return name


def party_required(view):
    """Either hub: the membership's party (client or partner) owns the keys. 403 for a user with neither."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        membership = membership_of(request.user)
        if membership is None:
            raise PermissionDenied
        request.membership = membership
        return view(request, *args, **kwargs)

    return wrapped


def _keys_of(membership):
    return ApiKey.objects.filter(**{membership.kind: membership.party})


@party_required
def api_keys(request):
    membership = request.membership
    if request.method == "GET" and request.resolver_match.namespace != membership.kind:
        return redirect(f"{membership.kind}:api-keys")  # a partner on /client/api-keys/: its own hub's page
    form = ApiKeyCreateForm(request.POST or None) if membership.can_manage else None
    created = plaintext = None
    if request.method == "POST":
        if form is None:
            raise PermissionDenied
        if form.is_valid():
            created, plaintext = api_key_create(
                name=form.cleaned_data["name"], created_by=request.user, party=membership.party
            )
            form = ApiKeyCreateForm()
    response = render(
        request,
        "api/keys.html",
        {"form": form, "keys": _keys_of(membership), "created": created, "plaintext": plaintext},
    )
    if plaintext:
        response["Cache-Control"] = "no-store"  # the key must not survive in a cache or the back button
    return response


@require_POST
@party_required
def api_key_revoke_page(request, key_id: int):
    membership = request.membership
    if not membership.can_manage:
        raise PermissionDenied
    key = get_object_or_404(_keys_of(membership), pk=key_id)
    if key.revoked_at is None:
        api_key_revoke(key=key, revoked_by=request.user)
        messages.success(request, _("The key “%(name)s” is revoked; it no longer works.") % {"name": key.name})
    return redirect(f"{membership.kind}:api-keys")
