"""A billing staff member reads the dashboard on the admin's index page in a real browser, follows a figure to the
invoices behind it, and runs a billing day as a background job whose page shows its progress."""

import datetime as dt

import pytest
import time_machine
from django.contrib.auth import get_user_model

from billing.models import StaffJob
from tests.billing.test_dashboard import world
from tests.browser.conftest import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def test_staff_read_the_billing_dashboard_and_follow_it_to_the_invoices(page, shots):
    with time_machine.travel(dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC), tick=True):
        world(eur_hubs=2)
        get_user_model().objects.create_superuser("eva-billing", "eva@hub-portal.example", PASSWORD)

        page.goto("/admin/login/")
        page.fill("#id_username", "eva-billing")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector(".billing-dashboard")
        shots(page, "dashboard")

        receivables = page.locator("#dash-receivables")
        assert receivables.locator("tr", has_text="EUR").locator("td").all_inner_texts() == [
            "€119.00", "€1,249.50", "€1,249.50", "€2,618.00",
        ]  # fmt: skip
        assert "License invoice not paid upon receipt" in page.locator("#dash-blocked").inner_text()
        assert "1 failed attempt" in page.locator("#dash-payments-failed").inner_text()
        day = page.locator("#dash-billing-day")
        assert "last billing day: 1 nov 2026" in day.inner_text().lower()  # captions are set in capitals
        # Here the invoices were really delivered: the live server's commits ran the PDF-and-email task.
        assert day.locator("tr", has_text="License Invoice").locator("td").all_inner_texts() == ["3", "3", "3"]

        receivables.locator("tr", has_text="EUR").locator("a").nth(2).click()  # more than 30 days
        page.wait_for_selector("#result_list")
        shots(page, "receivables-over-30-days")
        rows = page.locator("#result_list tbody tr")
        assert rows.count() == 4
        assert all("2026-10" in rows.nth(n).inner_text() for n in range(4))

        page.goto("/admin/")
        page.click("#dash-billing-day a:text('All runs')")
        page.wait_for_selector("#result_list")
        assert page.locator("#result_list tbody tr").count() == 2

        page.goto("/admin/billing/staffjob/billing-day/")
        page.fill("#id_day", "2026-11-15")
        page.fill("#id_reason", "Re-run the 15th after the outage")
        page.check("#id_dry_run")
        page.click("input[name=apply]")
        page.wait_for_selector("#job-status")
        page.wait_for_function("document.getElementById('job-status').textContent === 'Succeeded'")
        shots(page, "billing-day-job")
        assert page.locator("#job-progress").inner_text() == "1 / 1"
        assert page.locator(".job-bar").get_attribute("aria-valuenow") == "100"
        job = StaffJob.objects.get()
        assert job.result["dry_run"] is True and job.created_by.username == "eva-billing"

        page.goto("/admin/")
        assert f"billing_day #{job.pk}" in page.locator("#dash-jobs").inner_text()
