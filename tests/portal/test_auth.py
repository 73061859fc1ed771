"""Sign-in, throttling, sign-out, password reset, CSRF and the timezone preference, through real requests."""

import datetime as dt
import re

import pytest
from django.core import mail
from django.test import Client as HttpClient

from api.keys import api_key_create
from api.models import ApiKey
from clients.models import ClientMembership
from core.company import Role
from partners.models import PartnerMembership
from tests.factories import ClientFactory, PartnerFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests"


@pytest.fixture
def client_user():
    user = UserFactory(username="anna", email="anna@client.example")
    ClientMembership.objects.create(user=user, client=ClientFactory(), role=Role.OWNER)
    return user


def _login(http, username, password, **extra):
    return http.post("/login/", {"username": username, "password": password}, **extra)


def test_client_user_signs_in_to_the_client_hub(client, client_user):
    response = _login(client, "anna", PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/")["Location"] == "/client/"


def test_partner_user_signs_in_to_the_partner_hub(client):
    user = UserFactory(username="pete")
    PartnerMembership.objects.create(user=user, partner=PartnerFactory(), role=Role.VIEWER)

    _login(client, "pete", PASSWORD)

    assert client.get("/")["Location"] == "/partner/"


def test_staff_signs_in_to_the_admin(client):
    UserFactory(username="sam", is_staff=True, is_superuser=True)

    _login(client, "sam", PASSWORD)

    assert client.get("/")["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_wrong_password_shows_an_error_and_signs_nobody_in(client, client_user):
    response = _login(client, "anna", "wrong")

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert client.get("/client/").status_code == 302


def test_five_wrong_passwords_lock_the_username_even_for_the_right_password(client, client_user):
    for _ in range(4):
        assert _login(client, "anna", "wrong").status_code == 200

    fifth = _login(client, "anna", "wrong")
    sixth = _login(client, "anna", PASSWORD)

    assert fifth.status_code == 429
    assert sixth.status_code == 429
    page = sixth.content.decode()
    assert "Too many sign-in attempts" in page
    assert "locked for 15 minutes" in page
    assert "_auth_user_id" not in client.session
    # Another person's sign-in is not affected.
    other = HttpClient()
    ClientMembership.objects.create(user=UserFactory(username="cara"), client=ClientFactory(), role=Role.VIEWER)
    assert _login(other, "cara", PASSWORD).status_code == 302


def test_logout_is_post_only(client, client_user):
    client.force_login(client_user)

    assert client.get("/logout/").status_code == 405
    assert "_auth_user_id" in client.session

    response = client.post("/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert "_auth_user_id" not in client.session


def test_password_reset_email_link_sets_a_new_password(client, client_user):
    response = client.post("/password-reset/", {"email": "anna@client.example"})

    assert response["Location"] == "/password-reset/sent/"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["anna@client.example"]
    link = re.search(r"http://testserver(/password-reset/[^/\s]+/[^/\s]+/)", mail.outbox[0].body).group(1)
    set_password_url = client.get(link)["Location"]
    response = client.post(set_password_url, {"new_password1": "Brand-new-2026!", "new_password2": "Brand-new-2026!"})
    assert response["Location"] == "/password-reset/done/"

    assert _login(HttpClient(), "anna", PASSWORD).status_code == 200
    assert _login(HttpClient(), "anna", "Brand-new-2026!").status_code == 302
    # The link works once.
    assert "This link is no longer valid" in client.get(link, follow=True).content.decode()


def test_password_reset_for_an_unknown_address_sends_nothing(client, client_user):
    response = client.post("/password-reset/", {"email": "nobody@example.com"})

    assert response["Location"] == "/password-reset/sent/"
    assert mail.outbox == []


def test_csrf_is_enforced_on_posts(client_user):
    http = HttpClient(enforce_csrf_checks=True)

    assert _login(http, "anna", PASSWORD).status_code == 403

    page = http.get("/login/")
    token = page.cookies["csrftoken"].value
    response = http.post(
        "/login/", {"username": "anna", "password": PASSWORD, "csrfmiddlewaretoken": page.context["csrf_token"]}
    )
    assert token
    assert response.status_code == 302


def test_csrf_is_enforced_on_a_hub_form(client_user):
    http = HttpClient(enforce_csrf_checks=True)
    http.force_login(client_user)

    response = http.post("/client/api-keys/", {"name": "ERP"})

    assert response.status_code == 403
    assert ApiKey.objects.count() == 0


def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get("/client/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/client/"


def test_preferences_change_the_timezone_dates_are_shown_in(client, client_user):
    key, _ = api_key_create(name="ERP", party=client_user.client_membership.client)
    ApiKey.objects.filter(pk=key.pk).update(created_at=dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC))
    client.force_login(client_user)
    assert "1 Mar 2026 23:30" in client.get("/client/api-keys/").content.decode()

    response = client.post("/account/preferences/", {"timezone": "Europe/Berlin"})

    assert response["Location"] == "/account/preferences/"
    client_user.refresh_from_db()
    assert client_user.profile.timezone == "Europe/Berlin"
    page = client.get("/client/api-keys/").content.decode()
    assert "2 Mar 2026 00:30" in page  # one date style per language (billing.formats)
    assert "Times shown in Europe/Berlin." in page


def test_preferences_refuse_an_unknown_timezone(client, client_user):
    client.force_login(client_user)

    response = client.post("/account/preferences/", {"timezone": "Mars/Olympus"})

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_demo_users_see_dates_in_their_companys_timezone():
    from portal.demo import demo_seed
    from portal.models import UserProfile

    demo_seed()

    zones = dict(UserProfile.objects.values_list("user__username", "timezone"))
    assert zones["mueller-owner"] == "Europe/Berlin"
    assert zones["acme-viewer"] == "America/New_York"
    assert zones["nordlicht-billing"] == "Europe/Berlin"
    assert zones["sunrise-owner"] == "America/Chicago"
    assert zones["admin"] == "UTC"
