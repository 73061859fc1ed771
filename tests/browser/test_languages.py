"""The demo world in the customer's language: a German client, a Brazilian partner and a Spanish client sign in
(their browsers asking for de-DE, pt-BR and es-ES) and find every page of their hub in that language, with local
amounts and dates; signed out, the footer's language switch turns the sign-in and password-reset pages. Screenshots
of every page are kept under tests/browser/artifacts/<test>/."""

import datetime as dt
import re

import pytest
import time_machine
from django.core.management import call_command
from django.utils import translation
from playwright.sync_api import expect

from billing.models import Invoice

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]
DEMO_PASSWORD = "demo-pass-2026"  # hub/demo.py

MONTHS = {
    "de": "Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember",
    "pt-br": "janeiro|fevereiro|março|abril|maio|junho|julho|agosto|setembro|outubro|novembro|dezembro",
    "es": "enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre",
}
DATES = {
    "de": rf"\b\d{{1,2}}\. ({MONTHS['de']}) 20\d\d\b",
    "pt-br": rf"\b\d{{1,2}} de ({MONTHS['pt-br']}) de 20\d\d\b",
    "es": rf"\b\d{{1,2}} de ({MONTHS['es']}) de 20\d\d\b",
}
AMOUNTS = {  # the language's currency layout, and English's (which must not appear)
    "de": (r"−?€\d{1,3}(\.\d{3})*,\d{2}\b", r"€\d+\.\d{2}\b"),
    "pt-br": (r"−?US\$\s\d{1,3}(\.\d{3})*,\d{2}\b", r"\$\d+\.\d{2}\b"),
    "es": (r"−?\d{1,3}(\.\d{3})*,\d{2}\s€", r"€\d+\.\d{2}\b"),
}
CLIENT_PAGES = [  # (path, heading msgid, has amounts, has dates)
    ("/client/", "Overview", True, False),
    ("/client/invoices/", "Invoices", True, True),
    ("/client/funds/", "Funds", True, True),
    ("/client/numbers/", "Numbers", False, True),
    ("/client/payment-methods/", "Payment methods", False, False),
    ("/client/billing-details/", "Billing details", False, False),
    ("/client/api-keys/", "API keys", False, False),
    ("/account/preferences/", "Preferences", False, False),
]
PARTNER_PAGES = [
    ("/partner/", None, True, False),
    ("/partner/invoices/", "Invoicing", True, True),
    ("/partner/clients/", "Clients", False, False),
    ("/partner/plan/", "Plan", True, True),
    ("/partner/payment-methods/", "Payment methods", False, False),
    ("/partner/billing-details/", "Billing details", False, False),
    ("/partner/api-keys/", "API keys", False, False),
    ("/account/preferences/", "Preferences", False, False),
]
ENGLISH_NAV = {"Overview", "Invoices", "Funds", "Numbers", "Payment methods", "Billing details", "Invoicing",
               "Clients", "Sign out"}  # fmt: skip


@pytest.fixture
def demo():
    with time_machine.travel(dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC), tick=False):
        call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115


def _signed_in_page(browser, live_server, username: str, locale: str):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale=locale)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return context, page


def _check_page(page, shots, language: str, path: str, heading: str | None, amounts: bool, dates: bool) -> None:
    page.goto(path)
    expect(page.locator("html")).to_have_attribute("lang", language)
    if heading:
        with translation.override(language):
            expect(page.locator("h1")).to_have_text(translation.gettext(heading))
    text = page.locator("main").inner_text() + " " + page.locator("header").inner_text()
    nav = {link.strip() for link in page.locator("nav.mainnav a").all_inner_texts()}
    assert not nav & ENGLISH_NAV, (path, nav & ENGLISH_NAV)
    local_amount, english_amount = AMOUNTS[language]
    if amounts:
        assert re.search(local_amount, text), (path, text[:400])
    assert not re.search(english_amount, text), (path, re.search(english_amount, text))
    if dates:
        assert re.search(DATES[language], text), (path, text[:400])
    assert not re.search(r"\b(Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\.? \d{1,2}, 20\d\d", text), path
    shots(page, path.strip("/").replace("/", "-") or "home")


@pytest.mark.parametrize(
    ("username", "locale", "language", "pages", "sample"),
    [
        ("mueller-owner", "de-DE", "de", CLIENT_PAGES, {"Rechnungen", "Guthaben", "Nummern", "Rechnungsdaten"}),
        ("conecta-owner", "pt-BR", "pt-br", PARTNER_PAGES, {"Faturamento", "Clientes", "Plano", "Formas de pagamento"}),
        ("cafeole-owner", "es-ES", "es", CLIENT_PAGES, {"Facturas", "Fondos", "Números", "Datos de facturación"}),
    ],
)
def test_every_page_of_the_hub_is_in_the_persons_language(demo, browser, live_server, shots, username, locale,
                                                            language, pages, sample):  # fmt: skip
    context, page = _signed_in_page(browser, live_server, username, locale)
    try:
        nav = {link.strip() for link in page.locator("nav.mainnav a").all_inner_texts()}
        assert sample <= nav
        for path, heading, amounts, dates in pages:
            _check_page(page, shots, language, path, heading, amounts, dates)
        kind = pages[0][0].split("/")[1]  # "client" | "partner"
        invoice = Invoice.objects.filter(**{f"{kind}__memberships__user__username": username}).first()
        _check_page(page, shots, language, f"/{kind}/invoices/{invoice.number}/", None, True, True)
    finally:
        context.close()


def test_the_footer_switch_works_signed_out_on_sign_in_and_password_reset(page, shots):
    page.goto("/login/")
    expect(page.locator("h1")).to_have_text("Sign in")
    page.select_option("#footer-language", "de")
    page.get_by_role("button", name="Change language").click()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("button", name="Anmelden")).to_be_visible()
    shots(page, "login-de")
    page.get_by_role("link", name="Passwort vergessen?").click()
    expect(page.locator("h1")).to_have_text("Passwort zurücksetzen")
    page.select_option("#footer-language", "pt-br")
    page.get_by_role("button", name="Sprache ändern").click()
    expect(page.locator("h1")).to_have_text("Redefina sua senha")
    assert page.url.endswith("/password-reset/")  # same address: no language prefix
    shots(page, "password-reset-pt-br")
