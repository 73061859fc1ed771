"""API keys pages of both hubs: a key is shown once and stored hashed; revoking it stops it at once."""

import hashlib
import re

import pytest

from api.keys import api_key_create, api_key_find
from api.models import ApiKey, ApiKeyKind
from clients.models import ClientMembership
from core.company import Role
from partners.models import PartnerMembership
from tests.factories import ClientFactory, PartnerFactory, UserFactory

pytestmark = pytest.mark.django_db


def _client_member(role=Role.OWNER, company=None):
    user = UserFactory()
    ClientMembership.objects.create(user=user, client=company or ClientFactory(), role=role)
    return user


def _partner_member(role=Role.OWNER, partner=None):
    user = UserFactory()
    PartnerMembership.objects.create(user=user, partner=partner or PartnerFactory(), role=role)
    return user


def _secret(page: str) -> str | None:
    found = re.search(r'<div class="secret" id="new-key">([^<]+)</div>', page)
    return found.group(1) if found else None


def test_a_new_key_is_shown_once_and_only_its_sha256_is_stored(client):
    user = _client_member()
    client.force_login(user)

    response = client.post("/client/api-keys/", {"name": "  ERP export "})

    page = response.content.decode()
    plaintext = _secret(page)
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    assert plaintext.startswith("hpc_")
    assert "Copy it now: it is shown only this once." in page
    key = ApiKey.objects.get()
    assert (key.kind, key.client_id, key.name, key.created_by) == (
        ApiKeyKind.CLIENT,
        user.client_membership.client_id,
        "ERP export",
        user,
    )
    assert key.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert key.prefix == plaintext[:12]
    assert plaintext not in {str(getattr(key, f.attname)) for f in ApiKey._meta.concrete_fields}
    assert api_key_find(plaintext) == key

    later = client.get("/client/api-keys/").content.decode()
    assert plaintext not in later
    assert _secret(later) is None
    assert "ERP export" in later and f"{key.prefix}…" in later and "Never" in later


def test_a_partner_creates_a_partner_key(client):
    user = _partner_member(Role.BILLING)
    client.force_login(user)

    plaintext = _secret(client.post("/partner/api-keys/", {"name": "CRM"}).content.decode())

    key = api_key_find(plaintext)
    assert (key.kind, key.partner_id, key.client_id) == (ApiKeyKind.PARTNER, user.partner_membership.partner_id, None)


def test_a_key_needs_a_name(client):
    client.force_login(_client_member())

    response = client.post("/client/api-keys/", {"name": "   "})

    assert "This field is required." in response.content.decode()
    assert _secret(response.content.decode()) is None
    assert not ApiKey.objects.exists()


def test_the_list_shows_only_the_partys_own_keys(client):
    user = _client_member()
    mine, _ = api_key_create(name="Mine", party=user.client_membership.client)
    api_key_create(name="Another client's", party=ClientFactory())
    api_key_create(name="A partner's", party=PartnerFactory())
    api_key_create(name="Platform")
    client.force_login(user)

    page = client.get("/client/api-keys/").content.decode()

    assert f'id="key-{mine.pk}"' in page
    assert page.count('<tr id="key-') == 1


def test_the_empty_state(client):
    client.force_login(_client_member(Role.VIEWER))

    page = client.get("/client/api-keys/").content.decode()

    assert "No API keys yet." in page
    assert "An owner or billing user of your account can create one." in page


def test_revoking_a_key_stops_it_at_once(client):
    user = _client_member(Role.BILLING)
    key, plaintext = api_key_create(name="ERP", party=user.client_membership.client)
    client.force_login(user)

    response = client.post(f"/client/api-keys/{key.pk}/revoke/", follow=True)

    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == user
    assert api_key_find(plaintext) is None
    page = response.content.decode()
    assert "The key “ERP” is revoked; it no longer works." in page
    assert "Revoked " in page
    assert f'action="/client/api-keys/{key.pk}/revoke/"' not in page


def test_another_partys_key_cannot_be_revoked(client):
    user = _client_member()
    theirs, plaintext = api_key_create(name="Theirs", party=ClientFactory())
    partners, partner_plaintext = api_key_create(name="Partner's", party=PartnerFactory())
    client.force_login(user)

    assert client.post(f"/client/api-keys/{theirs.pk}/revoke/").status_code == 404
    assert client.post(f"/client/api-keys/{partners.pk}/revoke/").status_code == 404
    assert client.post("/partner/api-keys/999999/revoke/").status_code == 404

    assert api_key_find(plaintext) == theirs
    assert api_key_find(partner_plaintext) == partners


def test_revoke_is_post_only(client):
    user = _client_member()
    key, plaintext = api_key_create(name="ERP", party=user.client_membership.client)
    client.force_login(user)

    assert client.get(f"/client/api-keys/{key.pk}/revoke/").status_code == 405
    assert api_key_find(plaintext) == key


def test_a_viewer_sees_the_keys_but_cannot_create_or_revoke(client):
    user = _partner_member(Role.VIEWER)
    key, plaintext = api_key_create(name="CRM", party=user.partner_membership.partner)
    client.force_login(user)

    page = client.get("/partner/api-keys/").content.decode()
    assert "CRM" in page
    assert "Create key" not in page and "Revoke" not in page

    assert client.post("/partner/api-keys/", {"name": "Sneaky"}).status_code == 403
    assert client.post(f"/partner/api-keys/{key.pk}/revoke/").status_code == 403
    assert ApiKey.objects.count() == 1
    assert api_key_find(plaintext) == key


def test_a_user_without_a_party_is_refused_and_anonymous_is_sent_to_sign_in(client):
    assert client.get("/client/api-keys/")["Location"] == "/login/?next=/client/api-keys/"

    client.force_login(UserFactory(is_staff=True))

    assert client.get("/client/api-keys/").status_code == 403
    assert client.get("/partner/api-keys/").status_code == 403
    assert client.post("/partner/api-keys/", {"name": "x"}).status_code == 403
    assert not ApiKey.objects.exists()


def test_a_partner_on_the_client_url_is_sent_to_its_own_hubs_page(client):
    client.force_login(_partner_member())

    assert client.get("/client/api-keys/")["Location"] == "/partner/api-keys/"
