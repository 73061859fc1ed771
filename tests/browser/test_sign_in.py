"""Signing in and out in a real browser; a phone-width screen gets the folded menu."""

import pytest
from django.contrib.auth import get_user_model

from tests.browser.conftest import PASSWORD, sign_in
from tests.factories import ClientFactory

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_a_wrong_password_is_refused_and_the_right_one_signs_in(page, shots):
    user = get_user_model().objects.create_user("finance@nordlicht", password=PASSWORD)
    ClientFactory().memberships.create(user=user, role="owner")

    sign_in(page, "finance@nordlicht", "not-the-password")
    shots(page, "refused")
    assert page.url.endswith("/login/")
    assert page.locator(".errorlist").is_visible()

    sign_in(page, "finance@nordlicht")
    shots(page, "signed-in")
    assert page.url.endswith("/client/")

    page.click("text=Sign out")
    page.wait_for_url("**/login/")
    page.goto("/client/")
    assert "/login/" in page.url


def test_the_menu_folds_on_a_phone_screen(page, shots):
    user = get_user_model().objects.create_user("viewer@nordlicht", password=PASSWORD)
    ClientFactory().memberships.create(user=user, role="viewer")
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, "viewer@nordlicht")
    nav = page.locator("nav.mainnav")
    assert not nav.is_visible()
    page.click("label.nav-toggle-label")
    assert nav.is_visible()
    shots(page, "phone-menu-open")
