"""Staff and the client open the reconciliation report in a real browser and expand a WABA day into its breakdown
by category × country (Meta's documented pricing analytics example against the messages rated here)."""

import datetime as dt

import pytest
import time_machine
from django.contrib.auth import get_user_model

from tests.billing.test_reconciliation_report import JUNE_5_BREAKDOWN, WABA_ID, reconciled_world
from tests.browser.conftest import PASSWORD, member_of, sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def expand(page, waba_day: str) -> list[list[str]]:
    details = page.locator(f'details[data-breakdown="{waba_day}"]')
    assert not details.locator("table").is_visible()  # folded until asked for
    details.locator("summary").click()
    rows = details.locator("tbody tr")
    rows.first.wait_for()
    return [rows.nth(n).locator("td").all_inner_texts() for n in range(rows.count())]


def test_staff_and_the_client_expand_a_reconciled_day_into_its_breakdown(page, shots):
    with time_machine.travel(dt.datetime(2025, 6, 10, 12, tzinfo=dt.UTC), tick=True):
        waba = reconciled_world()
        get_user_model().objects.create_superuser("eva-billing", "eva@hub-portal.example", PASSWORD)
        member_of(waba.hub.client, "ana-viewer", role="viewer")

        page.goto("/admin/login/")
        page.fill("#id_username", "eva-billing")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.goto("/admin/billing/usagereconciliation/")
        page.click("text=Report by category and country")
        page.fill("#month", "2025-06")
        page.click("input[type=submit][value=Show]")
        page.wait_for_selector("[data-reconciliation]")
        row = page.locator(f'tr[data-waba-day="{WABA_ID} 2025-06-05"] td').all_inner_texts()
        assert row[3:] == ["€4.60", "€4.1131", "-€0.49"]
        assert [cells for cells in expand(page, f"{WABA_ID} 2025-06-05")] == JUNE_5_BREAKDOWN
        shots(page, "staff-report-expanded")

        page.context.clear_cookies()
        sign_in(page, "ana-viewer")
        page.goto("/client/funds/?reconciled=2025-06#reconciliation")
        assert expand(page, f"{WABA_ID} 2025-06-05") == JUNE_5_BREAKDOWN
        shots(page, "funds-breakdown-expanded")
