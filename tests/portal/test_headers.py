"""Response headers: a Content-Security-Policy on every response (our origin only; Stripe's where Stripe Elements
runs; nothing inline), and `Cache-Control: private, no-store` on every private page, file and API answer."""

import re
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from api.keys import api_key_create
from tests.billing.payments.conftest import license_invoice
from tests.factories import ClientFactory, HubFactory, PartnerFactory
from tests.portal.conftest import client_member, partner_member

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
OWN_ORIGIN_ONLY = {
    "default-src": "'self'", "script-src": "'self'", "style-src": "'self'", "img-src": "'self' data:",
    "font-src": "'self'", "connect-src": "'self'", "frame-src": "'none'", "object-src": "'none'",
    "base-uri": "'self'", "form-action": "'self'", "frame-ancestors": "'none'",
}  # fmt: skip


def policy(response) -> dict[str, str]:
    directives = (part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    return {name: value for name, value in directives}


def test_every_page_carries_the_own_origin_policy(client):
    client_member(client, ClientFactory(), "owner")

    for path in ("/login/", "/client/", "/client/funds/", "/client/payment-methods/", "/api/docs/"):
        assert policy(client.get(path)) == OWN_ORIGIN_ONLY, path


def test_the_card_form_and_3d_secure_allow_stripe_js_and_nothing_more(localstripe, client, settings):
    settings.STRIPE_JS_URL = f"{localstripe.base}/js.stripe.com/v3/"
    partner = PartnerFactory()
    partner_member(client, partner, "owner")

    card_form = policy(client.get("/partner/payment-methods/add/"))

    assert card_form == {
        **OWN_ORIGIN_ONLY,
        "script-src": f"'self' {localstripe.base}",
        "connect-src": f"'self' {localstripe.base} https://api.stripe.com",
        "img-src": "'self' data: https://*.stripe.com",
        "frame-src": f"{localstripe.base} https://js.stripe.com https://hooks.stripe.com",
    }
    assert policy(client.get("/partner/payment-methods/")) == OWN_ORIGIN_ONLY


def test_no_template_has_inline_script_or_style():
    """What the policy would block: a <script> without src, a <style> element, a style="" attribute or an on…=
    handler (PDF templates are rendered by xhtml2pdf, not a browser, and keep their styles)."""
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=", re.IGNORECASE)
    found = [
        f"{path.relative_to(TEMPLATES)}: {match.group(0)}"
        for path in TEMPLATES.rglob("*.html")
        if "pdf" not in path.parts
        for match in inline.finditer(path.read_text())
    ]
    assert found == []


def test_private_pages_files_and_the_api_are_not_stored(client):
    party = ClientFactory(country="DE")
    invoice = license_invoice(HubFactory(client=party))
    client_member(client, party, "owner")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(name='k', party=party)[1]}")
    partner_client = type(client)()
    partner_member(partner_client, PartnerFactory(), "owner")

    answers = {
        "/client/": client.get("/client/"),
        "/client/invoices/<n>/": client.get(f"/client/invoices/{invoice.number}/"),
        "/client/invoices/<n>/pdf/": client.get(f"/client/invoices/{invoice.number}/pdf/"),
        "/partner/": partner_client.get("/partner/"),
        "/api/v1/credit-balances": api.get("/api/v1/credit-balances"),
        "/api/v1/invoices/<n>/pdf": api.get(f"/api/v1/invoices/{invoice.number}/pdf"),
        "/api/v1/unknown (404)": api.get("/api/v1/unknown"),
        "/client/ signed out (redirect)": type(client)().get("/client/"),
    }

    assert {path: (r.status_code, r["Cache-Control"]) for path, r in answers.items()} == {
        "/client/": (200, "private, no-store"),
        "/client/invoices/<n>/": (200, "private, no-store"),
        "/client/invoices/<n>/pdf/": (200, "private, no-store"),
        "/partner/": (200, "private, no-store"),
        "/api/v1/credit-balances": (200, "private, no-store"),
        "/api/v1/invoices/<n>/pdf": (200, "private, no-store"),
        "/api/v1/unknown (404)": (404, "private, no-store"),
        "/client/ signed out (redirect)": (302, "private, no-store"),
    }
    assert "Cache-Control" not in client.get("/static/portal/portal.css")  # static files are public and cached
