"""Which language a page is in: the person's choice in Preferences, else the browser's Accept-Language, else the
language of the person's client or partner; signed out, the footer's switch (a cookie). The URL never changes."""

import pytest
from django.contrib.auth import get_user_model

from portal.models import UserProfile
from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def german_client_user():
    client = ClientFactory(company_name="Bäckerei Beispiel GmbH", country="DE", invoice_language="")
    user = get_user_model().objects.create_user("anna", password="pw-anna-2026")
    client.memberships.create(user=user, role="owner")
    return user


def test_signed_out_the_browsers_language_decides(client):
    page = client.get("/login/", headers={"accept-language": "es-MX,es;q=0.9,en;q=0.5"})

    assert page["Content-Language"] == "es"
    assert '<html lang="es">' in page.content.decode()
    assert "Iniciar sesión" in page.content.decode()


def test_a_language_the_portal_does_not_speak_falls_through_to_english(client):
    page = client.get("/login/", headers={"accept-language": "fr-FR,fr;q=0.9"})

    assert page["Content-Language"] == "en" and "Sign in" in page.content.decode()


def test_without_accept_language_the_partys_language_decides(client, german_client_user):
    client.force_login(german_client_user)

    page = client.get("/client/invoices/").content.decode()

    assert german_client_user.client_membership.client.billing_language == "de"  # from its country
    assert "<h1>Rechnungen</h1>" in page


def test_the_persons_preference_beats_the_browser_and_the_party(client, german_client_user):
    client.force_login(german_client_user)

    response = client.post("/account/preferences/", {"timezone": "Europe/Berlin", "language": "pt-br"})
    page = client.get("/client/invoices/", headers={"accept-language": "de-DE"}).content.decode()

    assert response.status_code == 302
    assert UserProfile.objects.get(user=german_client_user).language == "pt-br"
    assert "<h1>Faturas</h1>" in page
    assert "Preferências salvas. As datas agora são exibidas em Europe/Berlin." in page


def test_the_footer_switch_remembers_a_signed_out_choice_and_returns_to_the_same_page(client):
    response = client.post("/language/", {"language": "de", "next": "/password-reset/"})
    page = client.get("/password-reset/", headers={"accept-language": "es"}).content.decode()

    assert (response.status_code, response["Location"]) == (302, "/password-reset/")
    assert response.cookies["django_language"].value == "de"
    assert "<h1>Passwort zurücksetzen</h1>" in page


def test_the_footer_switch_signed_in_saves_the_preference_and_refuses_a_foreign_next(client, german_client_user):
    client.force_login(german_client_user)

    response = client.post("/language/", {"language": "es", "next": "https://evil.example/"})

    assert response["Location"] == "/"
    assert UserProfile.objects.get(user=german_client_user).language == "es"


def test_an_unknown_language_changes_nothing(client):
    response = client.post("/language/", {"language": "xx", "next": "/login/"})

    assert response["Location"] == "/login/" and "django_language" not in response.cookies


def test_api_errors_follow_accept_language(client):
    response = client.get("/api/v1/nothing-here", headers={"accept-language": "pt-BR"})

    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Não há endpoint de API neste endereço."
