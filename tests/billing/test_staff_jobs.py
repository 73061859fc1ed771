"""Long staff jobs: started in the admin (a billing day, a reconciliation import), run by the worker task, their
progress written as they go to a row staff can come back to (status page, JSON for its polling); the commands draw a
progress bar on stderr."""

import datetime as dt
import io
from decimal import Decimal

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from billing.models import (
    BillingRun,
    EntryKind,
    Invoice,
    InvoiceKind,
    LedgerEntry,
    StaffAction,
    StaffActionKind,
    StaffJob,
    StaffJobStatus,
)
from billing.staff_jobs import JobProgress, staff_job_create, staff_job_run
from tests.billing.test_reconciliation import HEADER, META_HIGHER, OTHER_DAY, number, rate_card  # noqa: F401
from tests.factories import PhoneNumberFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

DEC_1 = dt.datetime(2026, 12, 1, 0, 5, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def staff(client):
    user = UserFactory(username="eva-staff", is_staff=True, is_superuser=True)
    client.force_login(user)
    client.user = user
    return client


def start_billing_day(staff, django_capture_on_commit_callbacks, token="a" * 32, day="2026-12-01", dry_run=False):
    form = {"token": token, "day": day, "reason": "Beat was down on the 1st", "apply": "1"}
    if dry_run:
        form["dry_run"] = "on"
    with django_capture_on_commit_callbacks(execute=True):
        return staff.post(reverse("admin:billing_staffjob_billing_day"), form)


def test_a_billing_day_started_in_the_admin_runs_in_the_worker_and_reports_on_its_page(
    staff, django_capture_on_commit_callbacks
):
    with time_machine.travel(DEC_1, tick=False):
        PhoneNumberFactory(e164="+4915100000001", onboarded_at=dt.datetime(2026, 10, 5, tzinfo=dt.UTC))

        response = start_billing_day(staff, django_capture_on_commit_callbacks)

    job = StaffJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "admin:billing_staffjob_status", args=[job.pk]
    )
    assert (job.kind, job.status, job.created_by, job.params) == (
        "billing_day", StaffJobStatus.SUCCEEDED, staff.user, {"day": "2026-12-01", "dry_run": False}
    )  # fmt: skip
    # License (December), Partner Plan (December): the number's October was billed pro-rata before, so no MCI.
    kinds = sorted(Invoice.objects.values_list("kind", flat=True))
    assert kinds == [InvoiceKind.LICENSE, InvoiceKind.PARTNER_PLAN]
    assert job.result["issued"] == 2 and job.result["jobs"] == [
        "number_deletions", "new_numbers", "licenses", "month_closing", "partner_plans",
    ]  # fmt: skip
    assert (job.progress, job.total) == (5, 5)
    action = StaffAction.objects.get()
    assert (action.action, action.reason, action.details["job"]) == (
        StaffActionKind.INVOICES_ISSUE,
        "Beat was down on the 1st",
        job.pk,
    )
    run = BillingRun.objects.get()
    assert (run.source, run.day, run.issued, run.expected) == (
        "staff", dt.date(2026, 12, 1), 2, {"LICENSE": 1, "MONTH_CLOSING": 0, "PARTNER_PLAN": 1}
    )  # fmt: skip

    page = staff.get(response["Location"]).content.decode()
    assert "Succeeded" in page and 'aria-valuenow="100"' in page and "5 / 5" in page
    status = staff.get(reverse("admin:billing_staffjob_status_json", args=[job.pk])).json()
    assert {k: status[k] for k in ("status", "progress", "total", "percent", "done")} == {
        "status": "succeeded", "progress": 5, "total": 5, "percent": 100, "done": True,
    }  # fmt: skip
    assert status["result"]["issued"] == 2


def test_the_same_form_submitted_twice_starts_one_job(staff, django_capture_on_commit_callbacks):
    with time_machine.travel(DEC_1, tick=False):
        start_billing_day(staff, django_capture_on_commit_callbacks, dry_run=True)
        second = start_billing_day(staff, django_capture_on_commit_callbacks, dry_run=True)

    job = StaffJob.objects.get()
    assert second["Location"] == reverse("admin:billing_staffjob_status", args=[job.pk])
    assert StaffAction.objects.count() == 1
    assert job.result["dry_run"] is True and not BillingRun.objects.exists()


def test_a_running_job_shows_its_progress_and_polls_for_more(staff):
    job = staff_job_create(kind="billing_day", params={"day": "2026-12-01"}, user=staff.user)
    StaffJob.objects.filter(pk=job.pk).update(status="running", progress=3, total=12, message="Billing job: licenses")

    page = staff.get(reverse("admin:billing_staffjob_status", args=[job.pk])).content.decode()

    assert "Running" in page and "3 / 12" in page and "Billing job: licenses" in page
    assert '<progress class="job-bar" id="job-bar" max="100" value="25"' in page
    assert f'data-status-url="{reverse("admin:billing_staffjob_status_json", args=[job.pk])}"' in page
    assert '<meta http-equiv="refresh" content="5">' in page  # without JavaScript
    dashboard = staff.get(reverse("admin:index")).content.decode()
    assert f'href="{reverse("admin:billing_staffjob_status", args=[job.pk])}">billing_day #{job.pk}</a>' in dashboard


def test_progress_is_written_to_the_row_at_most_twice_a_second_and_always_at_the_end():
    job = staff_job_create(kind="billing_day", params={"day": "2026-12-01"})
    heard = []
    progress = JobProgress(job, listener=lambda *step: heard.append(step))

    with time_machine.travel(DEC_1, tick=False):  # the clock stands still: only the first and last steps are written
        progress(1, 4, "one")
        progress(2, 4, "two")
        StaffJob.objects.filter(pk=job.pk).update(message="unchanged?")
        progress(3, 4, "three")
        assert StaffJob.objects.values_list("progress", "message").get(pk=job.pk) == (1, "unchanged?")
        progress(4, 4, "four")

    assert StaffJob.objects.values_list("progress", "total", "message").get(pk=job.pk) == (4, 4, "four")
    assert heard == [(1, 4, "one"), (2, 4, "two"), (3, 4, "three"), (4, 4, "four")]


def upload(staff, django_capture_on_commit_callbacks, content: str, token="b" * 32):
    report = SimpleUploadedFile("meta-2026-11.csv", content.encode(), content_type="text/csv")
    form = {"token": token, "reason": "Meta's November report", "apply": "1", "report_file": report}
    with django_capture_on_commit_callbacks(execute=True):
        return staff.post(reverse("admin:billing_staffjob_reconciliation"), form)


def test_a_reconciliation_file_is_imported_in_the_background(staff, django_capture_on_commit_callbacks, number):  # noqa: F811
    with time_machine.travel(dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC), tick=False):
        response = upload(staff, django_capture_on_commit_callbacks, "\n".join([HEADER, META_HIGHER, OTHER_DAY]))

    job = StaffJob.objects.get()
    assert response["Location"] == reverse("admin:billing_staffjob_status", args=[job.pk])
    assert job.status == StaffJobStatus.SUCCEEDED, job.error
    assert job.result == {"days": 2, "posted": 2, "posted_by_currency": {"EUR": "-0.13"}}
    assert (job.progress, job.total) == (2, 2)
    entries = LedgerEntry.objects.filter(kind=EntryKind.RECONCILIATION).order_by("sequence")
    assert [entry.amount for entry in entries] == [Decimal("-0.06"), Decimal("-0.07")]
    assert StaffAction.objects.get().action == StaffActionKind.USAGE_RECONCILE


def test_a_bad_reconciliation_file_fails_the_job_with_every_reason_and_posts_nothing(
    staff,
    django_capture_on_commit_callbacks,
    number,  # noqa: F811
):
    with time_machine.travel(dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC), tick=False):
        upload(staff, django_capture_on_commit_callbacks, "\n".join([HEADER, META_HIGHER, "2026-11-04,2001,EUR,abc"]))

    job = StaffJob.objects.get()
    assert job.status == StaffJobStatus.FAILED
    assert job.error == "File rejected, nothing was posted: line 3: cost 'abc' is not a number"
    assert not LedgerEntry.objects.filter(kind=EntryKind.RECONCILIATION).exists()
    status = staff.get(reverse("admin:billing_staffjob_status_json", args=[job.pk])).json()
    assert (status["status"], status["done"], status["error"]) == ("failed", True, job.error)


def test_a_job_runs_once_even_when_its_task_is_delivered_twice():
    job = staff_job_create(kind="billing_day", params={"day": "2026-11-15", "dry_run": True})
    with time_machine.travel(DEC_1, tick=False):
        first = staff_job_run(job_id=job.pk)
        again = staff_job_run(job_id=job.pk)
    assert (first.status, again.status, again.finished_at) == ("succeeded", "succeeded", first.finished_at)


def test_staff_without_the_permission_cannot_start_a_job(client):
    client.force_login(UserFactory(username="helpdesk", is_staff=True))
    assert client.get(reverse("admin:billing_staffjob_billing_day")).status_code == 403
    assert client.get(reverse("admin:billing_staffjob_reconciliation")).status_code == 403


def test_the_billing_run_command_draws_a_progress_bar_on_stderr():
    stdout, stderr = io.StringIO(), io.StringIO()
    with time_machine.travel(DEC_1, tick=False):
        PhoneNumberFactory(e164="+4915100000002", onboarded_at=dt.datetime(2026, 10, 5, tzinfo=dt.UTC))
        call_command("billing_run", "--date", "2026-12-01", stdout=stdout, stderr=stderr)

    assert stderr.getvalue().splitlines() == [
        "billing run [" + "#" * 6 + "." * 24 + "] 1/5  20% number_deletions",
        "billing run [" + "#" * 12 + "." * 18 + "] 2/5  40% new_numbers",
        "billing run [" + "#" * 18 + "." * 12 + "] 3/5  60% licenses",
        "billing run [" + "#" * 24 + "." * 6 + "] 4/5  80% month_closing",
        "billing run [" + "#" * 30 + "] 5/5 100% partner_plans",
    ]
    assert stdout.getvalue().endswith("Issued 2 invoice(s).\n")
    assert BillingRun.objects.get().source == "command"
