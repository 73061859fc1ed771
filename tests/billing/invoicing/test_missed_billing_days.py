"""A missed billing day is made up (issue 10, money edge 1): running the calendar for a later 1st before an earlier
one, or after a gap of several months, bills every month's License and Partner Plan invoices exactly once, from each
number's and partner's billed-through month (as Kill Bill does with its charged-through date).

The runs go through beat's own entry point, `billing.run_day`, executed eagerly (CELERY_TASK_ALWAYS_EAGER in tests),
so its chunk tasks run in the test's transaction."""

import datetime as dt
import importlib
from decimal import Decimal

import pytest

from billing.models import Invoice, InvoiceKind
from billing.tasks import billing_day_task
from hub.models import LicenseTier, PhoneNumber
from partners.models import Partner
from tests.factories import ClientFactory, HubFactory, PartnerFactory, PhoneNumberFactory, WabaFactory

pytestmark = pytest.mark.django_db

REGULAR, PREMIUM, LEAVING = "+4915110000001", "+4915110000002", "+4915110000003"


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture
def world():
    """A German client's EUR hub of a Growth partner (500.00 a month) with a Regular (25.00) and a Premium (49.00)
    number onboarded in August, and a third Regular number whose deletion is requested later in each test."""
    partner = PartnerFactory(name="Alpha Partner", company_name="Alpha Partner GmbH", currency="EUR", country="DE")
    hub = HubFactory(client=ClientFactory(partner=partner, country="DE"))
    waba = WabaFactory(hub=hub)
    regular, premium = LicenseTier.objects.get(code="regular"), LicenseTier.objects.get(code="premium")
    for e164, tier in ((REGULAR, regular), (PREMIUM, premium), (LEAVING, regular)):
        PhoneNumberFactory(waba=waba, e164=e164, tier=tier, onboarded_at=utc(2026, 8, 3, 9))
    return hub, partner


def run_day(time_machine, day: dt.date, at: dt.datetime | None = None) -> list[str]:
    """Beat's billing-day task for `day`, run at `at` (default: 00:05 UTC that day, when beat runs it)."""
    time_machine.move_to(at or dt.datetime.combine(day, dt.time(0, 5), tzinfo=dt.UTC), tick=False)
    return billing_day_task.delay(day.isoformat()).get()


def request_deletion(e164: str, at: dt.datetime) -> None:
    PhoneNumber.objects.filter(e164=e164).update(status=PhoneNumber.Status.PENDING_DELETION, deletion_requested_at=at)


def billed_months(kind: str) -> list[str]:
    return sorted(Invoice.objects.filter(kind=kind).values_list("period_key", flat=True))


def license_lines(period_key: str) -> list[tuple[str, Decimal]]:
    invoice = Invoice.objects.get(kind=InvoiceKind.LICENSE, period_key=period_key)
    return list(invoice.lines.filter(role="charge").order_by("position").values_list("description", "amount"))


def test_running_the_1st_of_november_before_the_1st_of_october_bills_october_once(world, time_machine):
    # given September's billing day ran, and October's was missed; the third number's deletion was requested on
    # 20 September, so it leaves at the start of October
    hub, partner = world
    run_day(time_machine, dt.date(2026, 9, 1))
    request_deletion(LEAVING, utc(2026, 9, 20, 10))

    # when the 1st of November runs first, and the missed 1st of October afterwards, by hand
    run_day(time_machine, dt.date(2026, 11, 1))
    run_day(time_machine, dt.date(2026, 10, 1), at=utc(2026, 11, 2, 9))

    # then every month's License and Partner Plan invoice exists exactly once
    assert billed_months(InvoiceKind.LICENSE) == ["2026-09", "2026-10", "2026-11"]
    assert billed_months(InvoiceKind.PARTNER_PLAN) == ["2026-09", "2026-10", "2026-11"]
    # October's and November's, issued on 1 November, bill the two numbers still live at each month's start
    assert license_lines("2026-10") == [
        ("License +4915110000001 (Regular), October 2026", Decimal("25.00")),
        ("License +4915110000002 (Premium), October 2026", Decimal("49.00")),
    ]
    assert license_lines("2026-11") == [
        ("License +4915110000001 (Regular), November 2026", Decimal("25.00")),
        ("License +4915110000002 (Premium), November 2026", Decimal("49.00")),
    ]
    october = Invoice.objects.get(kind=InvoiceKind.LICENSE, period_key="2026-10")
    assert (october.issued_at, october.period_start, october.period_end, october.total) == (
        utc(2026, 11, 1, 0, 5), dt.date(2026, 10, 1), dt.date(2026, 11, 1), Decimal("88.06"),
    )  # fmt: skip
    plan = Invoice.objects.get(kind=InvoiceKind.PARTNER_PLAN, period_key="2026-10")
    assert list(plan.lines.values_list("description", "amount")) == [
        ("Partner Plan Growth, October 2026", Decimal("500.00")),
        ("VAT 19%", Decimal("95.00")),
    ]
    # the leaving number's deletion took effect at the start of October, the month after it was requested
    assert PhoneNumber.objects.get(e164=LEAVING).deleted_at == utc(2026, 10, 1)
    # and each number and the partner are billed through November
    assert set(PhoneNumber.objects.exclude(e164=LEAVING).values_list("licensed_through", flat=True)) == {
        dt.date(2026, 11, 1)
    }
    assert Partner.objects.get(pk=partner.pk).plan_billed_through == dt.date(2026, 11, 1)


def test_after_a_gap_of_three_months_each_month_is_billed_once_and_reruns_issue_nothing(world, time_machine):
    # given September's billing day ran, then beat stopped until January; meanwhile the third number's deletion
    # was requested on 15 October (licensed for October, gone from November)
    hub, partner = world
    run_day(time_machine, dt.date(2026, 9, 1))
    request_deletion(LEAVING, utc(2026, 10, 15, 10))

    # when the 1st of January 2027 runs
    run_day(time_machine, dt.date(2027, 1, 1))

    # then October, November, December and January are each billed once, on the 1st of January
    months = ["2026-09", "2026-10", "2026-11", "2026-12", "2027-01"]
    assert billed_months(InvoiceKind.LICENSE) == months
    assert billed_months(InvoiceKind.PARTNER_PLAN) == months
    assert license_lines("2026-10") == [
        ("License +4915110000001 (Regular), October 2026", Decimal("25.00")),
        ("License +4915110000002 (Premium), October 2026", Decimal("49.00")),
        ("License +4915110000003 (Regular), October 2026", Decimal("25.00")),
    ]
    for key, label in (("2026-11", "November 2026"), ("2026-12", "December 2026"), ("2027-01", "January 2027")):
        assert license_lines(key) == [
            (f"License +4915110000001 (Regular), {label}", Decimal("25.00")),
            (f"License +4915110000002 (Premium), {label}", Decimal("49.00")),
        ]
    caught_up = Invoice.objects.filter(issued_at=utc(2027, 1, 1, 0, 5))
    assert sorted(caught_up.values_list("number", flat=True)) == [f"INV-2027-{n:06d}" for n in range(1, 9)]
    assert PhoneNumber.objects.get(e164=LEAVING).deleted_at == utc(2026, 11, 1)
    assert PhoneNumber.objects.get(e164=LEAVING).licensed_through == dt.date(2026, 10, 1)
    before = Invoice.objects.count()

    # and running January again, and the missed days late, issues nothing more
    run_day(time_machine, dt.date(2027, 1, 1), at=utc(2027, 1, 1, 6))
    for day in (dt.date(2026, 10, 1), dt.date(2026, 11, 1), dt.date(2026, 12, 1)):
        run_day(time_machine, day, at=utc(2027, 1, 2, 9))
    assert Invoice.objects.count() == before
    assert billed_months(InvoiceKind.LICENSE) == months
    assert billed_months(InvoiceKind.PARTNER_PLAN) == months


def test_a_partner_and_a_number_never_billed_start_with_the_month_of_their_first_run(world, time_machine):
    # given nothing was ever billed (the first billing day the calendar sees is November's)
    hub, partner = world

    # when it runs
    run_day(time_machine, dt.date(2026, 11, 1))

    # then only November is billed: billing starts at the first run, not at onboarding (as it did before)
    assert billed_months(InvoiceKind.LICENSE) == ["2026-11"]
    assert billed_months(InvoiceKind.PARTNER_PLAN) == ["2026-11"]


def test_the_migration_backfills_each_partners_billed_through_month_from_its_plan_invoices(world):
    # given a partner billed for September and October before the field existed, and one never billed
    from django.apps import apps

    from billing.invoicing.partner_plans import partner_plan_issue

    hub, partner = world
    never_billed = PartnerFactory(name="Bravo Partner")
    for month in (dt.date(2026, 9, 1), dt.date(2026, 10, 1)):
        partner_plan_issue(partner_ids=[partner.pk], month=month, issued_at=utc(2026, 10, 1, 0, 5))
    Partner.objects.update(plan_billed_through=None)
    migration = importlib.import_module("billing.migrations.0013_partner_plan_billed_through_backfill")

    migration.backfill(apps, None)

    assert dict(Partner.objects.values_list("name", "plan_billed_through")) == {
        "Alpha Partner": dt.date(2026, 10, 1),
        never_billed.name: None,
    }
