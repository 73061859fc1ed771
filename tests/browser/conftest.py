"""Browser tests: Playwright driving Debian's Chromium (/usr/bin/chromium, which `make test` installs when missing)
against Django's live test server, with localstripe as Stripe and its fake Stripe.js in the page.

Each test keeps screenshots under tests/browser/artifacts/<test name>/ (ignored by git) so a failure can be looked at.
"""

import os
import re
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# `media` (autouse): invoice PDFs rendered by the live server go to the test's own folder.
from tests.billing.payments.conftest import localstripe, media, webhooks  # noqa: E402, F401  (fixtures)

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [  # what this machine's closed network needs (no background calls to Google)
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "browser-pass-2026"


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


class Shots:
    """Numbered screenshots of one test: shots("banner") → artifacts/<test>/01-banner.png."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def __call__(self, page, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(request) -> Shots:
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return Shots(folder)


@pytest.fixture
def page(browser, live_server, shots, request):
    """A fresh browser context (own cookies) on the live server; a failing test leaves a last screenshot."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    # Chromium reports what the Content-Security-Policy blocked on the console: every page must run without it.
    blocked = []
    page.on("console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text
            else None)  # fmt: skip
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        shots(page, "failed")
    context.close()
    assert blocked == [], f"the Content-Security-Policy blocked: {blocked}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def sign_in(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def member_of(party, username: str, role: str = "owner"):
    """A user of a client or a partner, with `role`, who signs in with PASSWORD."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username, password=PASSWORD)
    party.memberships.create(user=user, role=role)
    return user
