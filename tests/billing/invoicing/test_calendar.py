"""One billing calendar (billing/invoicing/calendar.py `JOBS`): the jobs of a day and the billing month each bills,
declared once and read by beat's tasks, `billing_run` and staff's Issue now. The beat tasks run here themselves,
eagerly (CELERY_TASK_ALWAYS_EAGER in tests), so a wrong period in the beat path fails."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from djmoney.money import Money

from billing.invoicing.calendar import billing_run, jobs_due
from billing.ledger import ledger_post
from billing.models import CreditAccount, EntryKind, Invoice, InvoiceKind, RateCardRate
from billing.staff_actions import staff_invoices_issue
from billing.tasks import billing_chunk_task, billing_day_task
from billing.usage.ingest import usage_record_batch
from hub.models import PhoneNumber
from tests.factories import ClientFactory, HubFactory, PartnerFactory, PhoneNumberFactory, UserFactory, WabaFactory

pytestmark = pytest.mark.django_db

DEC_1 = dt.datetime(2026, 12, 1, 0, 5, tzinfo=dt.UTC)


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture
def number():
    """A German client's EUR hub with a Regular number onboarded in September, 100 messages (12.35) and 5.00 of
    funds in November, and a monthly prepayment of 100.00."""
    RateCardRate.objects.create(
        effective_date=dt.date(2026, 1, 1), currency="EUR", market="DE", category="marketing", rate="0.123457"
    )
    client = ClientFactory(country="DE", partner=PartnerFactory(currency="EUR", company_name="Alpha Partner GmbH"))
    number = PhoneNumberFactory(waba=WabaFactory(hub=HubFactory(client=client)), e164="+4915110000001")
    hub = number.waba.hub
    with time_machine.travel(utc(2026, 11, 14, 13), tick=False):
        ledger_post(
            account=hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money("5.00", "EUR"), key="funds:nov"
        )
        result = usage_record_batch(
            events=[
                {
                    "message_id": f"wamid.nov.{n}",
                    "waba_id": number.waba.meta_waba_id,
                    "phone_number": number.e164,
                    "recipient_country": "DE",
                    "category": "marketing",
                    "billable": True,
                    "timestamp": "2026-11-14T12:00:00Z",
                }
                for n in range(100)
            ]
        )
    assert result.accepted == 100
    CreditAccount.objects.filter(hub=hub).update(monthly_prepayment=Decimal("100.00"))
    return number


def issued() -> list[tuple[str, str, str, str, Decimal]]:
    return list(Invoice.objects.order_by("number").values_list("number", "kind", "party_key", "period_key", "total"))


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (
            dt.date(2026, 12, 1),
            [("number_deletions", "2026-12"), ("new_numbers", "2026-11"), ("licenses", "2026-12"),
             ("month_closing", "2026-11"), ("partner_plans", "2026-12")],
        ),
        (
            dt.date(2027, 1, 1),
            [("number_deletions", "2027-01"), ("new_numbers", "2026-12"), ("licenses", "2027-01"),
             ("month_closing", "2026-12"), ("partner_plans", "2027-01")],
        ),
        (dt.date(2026, 11, 30), [("monthly_prepayments", "2026-12"), ("new_numbers", "2026-11")]),
        (dt.date(2027, 2, 28), [("monthly_prepayments", "2027-03"), ("new_numbers", "2027-02")]),
        (dt.date(2026, 11, 18), [("new_numbers", "2026-11")]),
    ],
)  # fmt: skip
def test_the_calendar_declares_the_jobs_of_each_day_and_the_month_each_bills(day, expected):
    assert [(job.name, f"{job.period(day):%Y-%m}") for job in jobs_due(day)] == expected


def test_beat_issues_on_the_1st_exactly_what_billing_run_shows_for_that_day(number, time_machine):
    # given what `billing_run --dry-run` shows for 1 December
    time_machine.move_to(DEC_1, tick=False)
    shown = [(i.kind, i.party_key, i.period_key, i.total) for i in billing_run(day=DEC_1.date(), dry_run=True).issued]
    assert Invoice.objects.count() == 0

    # when beat's billing-day task runs that day (its chunk tasks eagerly)
    jobs = billing_day_task.delay().get()

    # then it issues the same invoices, for the same months: December's license and plan, November's MCI
    # (12.35 usage − 5.00 funds = 7.35 due + 19% VAT)
    assert jobs == ["number_deletions", "new_numbers", "licenses", "month_closing", "partner_plans"]
    hub, partner = number.waba.hub, number.waba.hub.client.partner
    assert issued() == [
        ("INV-2026-000001", InvoiceKind.LICENSE, f"hub:{hub.pk}", "2026-12", Decimal("29.75")),
        ("INV-2026-000002", InvoiceKind.MONTH_CLOSING, f"hub:{hub.pk}", "2026-11", Decimal("8.75")),
        ("INV-2026-000003", InvoiceKind.PARTNER_PLAN, f"partner:{partner.pk}", "2026-12", Decimal("595.00")),
    ]
    assert [row[1:] for row in issued()] == shown
    # and November is closed, December still open for its usage
    assert CreditAccount.objects.get(hub=hub).closed_through == dt.date(2026, 11, 1)
    assert Invoice.objects.get(kind=InvoiceKind.MONTH_CLOSING).summary["ending_balance"] == "-7.35"


def test_beat_issues_the_monthly_prepayment_on_the_last_day_for_the_next_month(number, time_machine):
    time_machine.move_to(utc(2026, 11, 30, 0, 5), tick=False)

    assert billing_day_task.delay("2026-11-30").get() == ["monthly_prepayments", "new_numbers"]

    hub = number.waba.hub
    assert issued() == [
        ("INV-2026-000001", InvoiceKind.PREPAYMENT, f"hub:{hub.pk}", "monthly:2026-12", Decimal("119.00"))
    ]
    invoice = Invoice.objects.get()
    assert (invoice.period_start, invoice.period_end) == (dt.date(2026, 12, 1), dt.date(2027, 1, 1))


def test_beat_deletes_numbers_before_it_bills_their_month(number, time_machine):
    # given a second number whose deletion was requested in November
    leaving = PhoneNumberFactory(waba=number.waba, e164="+4915110000002", onboarded_at=utc(2026, 9, 1))
    PhoneNumber.objects.filter(pk=leaving.pk).update(
        status=PhoneNumber.Status.PENDING_DELETION, deletion_requested_at=utc(2026, 11, 20)
    )
    time_machine.move_to(DEC_1, tick=False)

    billing_day_task.delay("2026-12-01").get()

    leaving.refresh_from_db()
    assert (leaving.status, leaving.deleted_at) == (PhoneNumber.Status.DELETED, utc(2026, 12, 1))
    license = Invoice.objects.get(kind=InvoiceKind.LICENSE)
    assert list(license.lines.filter(role="charge").values_list("description", flat=True)) == [
        "License +4915110000001 (Regular), December 2026"
    ]


def test_a_chunk_task_runs_the_job_due_that_day_and_refuses_one_that_is_not(number, time_machine):
    hub = number.waba.hub
    time_machine.move_to(utc(2026, 12, 1, 3), tick=False)

    assert billing_chunk_task.delay("month_closing", "2026-12-01", [hub.pk]).get() == 1
    with pytest.raises(ValueError, match=r"^No billing job 'licenses' is due on 2026-11-18\.$"):
        billing_chunk_task.delay("licenses", "2026-11-18", [hub.pk]).get()

    assert issued() == [("INV-2026-000001", InvoiceKind.MONTH_CLOSING, f"hub:{hub.pk}", "2026-11", Decimal("8.75"))]


def test_staff_issue_now_runs_the_calendars_job_for_the_month_and_makes_up_the_months_missed(number, time_machine):
    # given a number billed through September, and October's billing day missed
    hub = number.waba.hub
    PhoneNumber.objects.filter(pk=number.pk).update(licensed_through=dt.date(2026, 9, 1))
    time_machine.move_to(utc(2026, 11, 22, 12), tick=False)
    staff = UserFactory(username="eva-staff", is_staff=True, is_superuser=True)

    # when staff issue November's License Invoice now
    action = staff_invoices_issue(
        user=staff, kind=InvoiceKind.LICENSE, month=dt.date(2026, 11, 5), hub=hub, reason="Missed run", key="k1"
    )

    # then October's and November's are issued, as the 1st of November's run would have
    assert [i["invoice"] for i in action.details["invoices"]] == ["INV-2026-000001", "INV-2026-000002"]
    assert [row[1:4] for row in issued()] == [
        (InvoiceKind.LICENSE, f"hub:{hub.pk}", "2026-10"),
        (InvoiceKind.LICENSE, f"hub:{hub.pk}", "2026-11"),
    ]
    assert all(invoice.issued_at == utc(2026, 11, 22, 12) for invoice in Invoice.objects.all())
