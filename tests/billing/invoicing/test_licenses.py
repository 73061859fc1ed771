"""License Invoices: the monthly one on the 1st (every live number at its tier's fee) and the pro-rated
License Invoice – New Numbers for a number onboarded after the 1st."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from billing.invoicing.licenses import license_issue, new_numbers_issue, numbers_deletion_finalize, prorated_fee
from billing.models import Invoice, InvoiceKind, InvoiceLine, InvoiceSequence, InvoiceStatus
from billing.onboarding import number_onboard
from hub.models import LicenseTier, PhoneNumber
from tests.factories import ClientFactory, HubFactory, PartnerFactory, PhoneNumberFactory, WabaFactory

pytestmark = pytest.mark.django_db

NOV = dt.date(2026, 11, 1)
DEC = dt.date(2026, 12, 1)
ISSUED_AT = dt.datetime(2026, 11, 1, 0, 5, tzinfo=dt.UTC)


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(utc(2026, 11, 20, 12), tick=False):
        yield


@pytest.fixture
def regular():
    return LicenseTier.objects.get(code="regular")


@pytest.fixture
def premium():
    return LicenseTier.objects.get(code="premium")


@pytest.fixture
def waba():
    """A WABA of a hub owned by a German client of a EUR partner."""
    client = ClientFactory(company_name="Bäckerei Müller GmbH", country="DE", partner=PartnerFactory(currency="EUR"))
    return WabaFactory(hub=HubFactory(client=client))


def lines(invoice: Invoice) -> list[tuple[str, str, Decimal]]:
    return list(invoice.lines.order_by("position").values_list("role", "description", "amount"))


# --- License Invoice (1st of the month) -------------------------------------------------------------------------------


def test_the_license_invoice_bills_each_live_number_at_its_tier_fee_with_vat(waba, regular, premium):
    # given an active Regular number and a Premium number whose deletion was requested during November
    PhoneNumberFactory(waba=waba, e164="+4915110000001", tier=regular, onboarded_at=utc(2026, 9, 3, 9))
    PhoneNumberFactory(
        waba=waba,
        e164="+4915110000002",
        tier=premium,
        onboarded_at=utc(2026, 9, 3, 9),
        status=PhoneNumber.Status.PENDING_DELETION,
        deletion_requested_at=utc(2026, 11, 1, 0, 0),
    )

    # when November's License Invoices are issued
    issued = license_issue(hub_ids=[waba.hub_id], month=NOV, issued_at=ISSUED_AT)

    # then one invoice, a line per number at the tier's fee, and 19% German VAT on 74.00
    assert len(issued) == 1
    invoice = Invoice.objects.get()
    assert invoice.kind == InvoiceKind.LICENSE
    assert invoice.number == "INV-2026-000001"
    assert invoice.hub_id == waba.hub_id
    assert invoice.client_id == waba.hub.client_id
    assert (invoice.period_key, invoice.period_start, invoice.period_end) == ("2026-11", NOV, DEC)
    assert invoice.currency == "EUR"
    assert lines(invoice) == [
        ("charge", "License +4915110000001 (Regular), November 2026", Decimal("25.00")),
        ("charge", "License +4915110000002 (Premium), November 2026", Decimal("49.00")),
        ("tax", "VAT 19%", Decimal("14.06")),
    ]
    assert (invoice.net_amount, invoice.fee_amount, invoice.tax_amount) == (
        Decimal("74.00"),
        Decimal("0.00"),
        Decimal("14.06"),
    )
    assert invoice.total == Decimal("88.06")
    assert invoice.tax_rate == Decimal("0.19")
    assert invoice.status == InvoiceStatus.PENDING
    assert invoice.paid_at is None
    assert invoice.issued_at == ISSUED_AT
    assert invoice.due_date == dt.date(2026, 11, 1)
    assert invoice.billed_company["hub_id"] == waba.hub.hub_id
    assert invoice.billed_company["company_name"] == "Bäckerei Müller GmbH"


def test_the_license_fee_is_charged_in_the_partners_currency(regular):
    # given a hub of an American client of a USD partner
    client = ClientFactory(country="US", partner=PartnerFactory(currency="USD", country="US"))
    number = PhoneNumberFactory(waba=WabaFactory(hub=HubFactory(client=client)), e164="+12025550143", tier=regular)

    # when
    (invoice,) = license_issue(hub_ids=[number.waba.hub_id], month=NOV, issued_at=ISSUED_AT)

    # then the tier's 25 is billed as 25.00 USD, without German VAT
    invoice.refresh_from_db()
    assert invoice.currency == "USD"
    assert lines(invoice) == [
        ("charge", "License +12025550143 (Regular), November 2026", Decimal("25.00")),
        ("tax", "VAT 0%", Decimal("0.00")),
    ]
    assert invoice.total == Decimal("25.00")


def test_numbers_deleted_before_the_month_or_onboarded_after_the_run_are_not_on_it(waba, regular):
    # given a number deleted at the start of October, one onboarded on the 1st before the 00:05 run, one on the
    # 1st after it, and one on the 2nd
    PhoneNumberFactory(
        waba=waba,
        e164="+4915110000001",
        tier=regular,
        onboarded_at=utc(2026, 5, 1),
        status=PhoneNumber.Status.DELETED,
        deletion_requested_at=utc(2026, 9, 20),
        deleted_at=utc(2026, 10, 1),
    )
    PhoneNumberFactory(waba=waba, e164="+4915110000002", tier=regular, onboarded_at=utc(2026, 11, 1, 0, 4))
    PhoneNumberFactory(waba=waba, e164="+4915110000003", tier=regular, onboarded_at=utc(2026, 11, 1, 0, 6))
    PhoneNumberFactory(waba=waba, e164="+4915110000004", tier=regular, onboarded_at=utc(2026, 11, 2, 0, 0))

    # when
    (invoice,) = license_issue(hub_ids=[waba.hub_id], month=NOV, issued_at=ISSUED_AT)

    # then only the number onboarded before the run is licensed for November, at the full fee
    assert lines(invoice) == [
        ("charge", "License +4915110000002 (Regular), November 2026", Decimal("25.00")),
        ("tax", "VAT 19%", Decimal("4.75")),
    ]
    assert invoice.total == Decimal("29.75")
    assert dict(PhoneNumber.objects.values_list("e164", "licensed_through")) == {
        "+4915110000001": None,
        "+4915110000002": NOV,
        "+4915110000003": None,
        "+4915110000004": None,
    }


def test_a_number_onboarded_on_the_1st_before_the_run_gets_no_pro_rated_invoice_but_one_on_the_2nd_does(waba, regular):
    # given numbers onboarded on the 1st (before the 00:05 run) and on the 2nd of November
    PhoneNumberFactory(waba=waba, e164="+4915110000001", tier=regular, onboarded_at=utc(2026, 11, 1, 0, 0))
    PhoneNumberFactory(waba=waba, e164="+4915110000002", tier=regular, onboarded_at=utc(2026, 11, 2, 14))
    license_issue(hub_ids=[waba.hub_id], month=NOV, issued_at=ISSUED_AT)

    # when the new-numbers job runs for both days
    on_the_1st = new_numbers_issue(day=dt.date(2026, 11, 1), issued_at=utc(2026, 11, 2, 0, 5))
    on_the_2nd = new_numbers_issue(day=dt.date(2026, 11, 2), issued_at=utc(2026, 11, 3, 0, 5))

    # then the 1st issues nothing (the License Invoice bills that number), the 2nd bills 29 of 30 days
    assert on_the_1st == []
    assert len(on_the_2nd) == 1
    assert Invoice.objects.filter(kind=InvoiceKind.LICENSE_NEW_NUMBERS).count() == 1
    assert lines(on_the_2nd[0]) == [
        ("charge", "License +4915110000002 (Regular), 2 Nov – month end (29/30 days of 25.00)", Decimal("24.17")),
        ("tax", "VAT 19%", Decimal("4.59")),
    ]


def test_pending_deletions_requested_before_the_month_are_deleted_as_it_starts(waba, regular):
    # given deletions requested just before November and exactly at its start, and an active number
    before = PhoneNumberFactory(
        waba=waba,
        e164="+4915110000001",
        tier=regular,
        status=PhoneNumber.Status.PENDING_DELETION,
        deletion_requested_at=utc(2026, 10, 31, 23, 59, 59),
    )
    at_start = PhoneNumberFactory(
        waba=waba,
        e164="+4915110000002",
        tier=regular,
        status=PhoneNumber.Status.PENDING_DELETION,
        deletion_requested_at=utc(2026, 11, 1, 0, 0),
    )
    active = PhoneNumberFactory(waba=waba, e164="+4915110000003", tier=regular)

    # when November starts
    deleted = numbers_deletion_finalize(month=NOV)

    # then only the earlier request takes effect, dated at the month's start
    assert deleted == 1
    before.refresh_from_db()
    at_start.refresh_from_db()
    active.refresh_from_db()
    assert (before.status, before.deleted_at) == (PhoneNumber.Status.DELETED, utc(2026, 11, 1))
    assert (at_start.status, at_start.deleted_at) == (PhoneNumber.Status.PENDING_DELETION, None)
    assert (active.status, active.deleted_at) == (PhoneNumber.Status.ACTIVE, None)
    # and November's License Invoice bills the two numbers still live
    (invoice,) = license_issue(hub_ids=[waba.hub_id], month=NOV, issued_at=ISSUED_AT)
    assert [line[1] for line in lines(invoice)] == [
        "License +4915110000002 (Regular), November 2026",
        "License +4915110000003 (Regular), November 2026",
        "VAT 19%",
    ]
    assert invoice.total == Decimal("59.50")


def test_issuing_the_license_invoices_twice_issues_nothing_the_second_time(waba, regular):
    PhoneNumberFactory(waba=waba, e164="+4915110000001", tier=regular)
    first = license_issue(hub_ids=[waba.hub_id], month=NOV, issued_at=ISSUED_AT)

    again = license_issue(hub_ids=[waba.hub_id], month=NOV, issued_at=utc(2026, 11, 1, 3))

    assert len(first) == 1
    assert again == []
    assert Invoice.objects.count() == 1
    assert InvoiceSequence.objects.get(series="INV", year=2026).last_number == 1


def test_each_hub_gets_its_own_license_invoice_with_its_own_numbers(regular, premium):
    first = PhoneNumberFactory(e164="+4915110000001", tier=regular)
    second = PhoneNumberFactory(e164="+4915110000002", tier=premium)
    not_asked = PhoneNumberFactory(e164="+4915110000003", tier=premium)

    issued = license_issue(hub_ids=[first.waba.hub_id, second.waba.hub_id], month=NOV, issued_at=ISSUED_AT)

    by_hub = {invoice.hub_id: invoice for invoice in issued}
    assert set(by_hub) == {first.waba.hub_id, second.waba.hub_id}
    assert [n for n, _ in Invoice.objects.order_by("number").values_list("number", "hub_id")] == [
        "INV-2026-000001",
        "INV-2026-000002",
    ]
    assert by_hub[first.waba.hub_id].net_amount == Decimal("25.00")
    assert by_hub[second.waba.hub_id].net_amount == Decimal("49.00")
    assert not Invoice.objects.filter(hub=not_asked.waba.hub).exists()


# --- License Invoice – New Numbers (pro-rated) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("monthly_fee", "onboarded_on", "expected"),
    [
        ("25.00", dt.date(2026, 11, 15), "13.33"),  # 16/30 days
        ("25.00", dt.date(2026, 11, 2), "24.17"),  # 29/30 = 24.1666…
        ("49.00", dt.date(2026, 12, 31), "1.58"),  # 1/31 = 1.5806…
        ("49.00", dt.date(2026, 12, 2), "47.42"),  # 30/31 = 47.4193…
        ("25.00", dt.date(2028, 2, 29), "0.86"),  # leap year: 1/29 = 0.8620…
        ("25.00", dt.date(2027, 2, 15), "12.50"),  # 14/28
        ("25.01", dt.date(2026, 11, 16), "12.51"),  # 15/30 = 12.505 exactly: half-up (half-even would give 12.50)
        ("25.05", dt.date(2026, 11, 16), "12.53"),  # 15/30 = 12.525 exactly: half-up (half-even would give 12.52)
    ],
)
def test_the_pro_rated_fee_counts_the_onboarding_day_and_rounds_half_up(monthly_fee, onboarded_on, expected):
    assert prorated_fee(monthly_fee=Decimal(monthly_fee), onboarded_on=onboarded_on) == Decimal(expected)


def test_a_fee_of_exactly_half_a_cent_rounds_up_on_the_invoice(waba):
    # given a tier whose pro-rated fee for 15 of 30 days is exactly 12.505
    tier = LicenseTier.objects.create(code="custom", name="Custom", monthly_fee=Decimal("25.01"))
    PhoneNumberFactory(waba=waba, e164="+4915110000001", tier=tier, onboarded_at=utc(2026, 11, 16, 10))

    (invoice,) = new_numbers_issue(day=dt.date(2026, 11, 16), issued_at=utc(2026, 11, 16, 10, 1))

    assert lines(invoice)[0] == (
        "charge",
        "License +4915110000001 (Custom), 16 Nov – month end (15/30 days of 25.01)",
        Decimal("12.51"),
    )
    # VAT on 12.51 is 2.3769 → 2.38
    assert (invoice.net_amount, invoice.tax_amount, invoice.total) == (
        Decimal("12.51"),
        Decimal("2.38"),
        Decimal("14.89"),
    )


def test_numbers_onboarded_the_same_day_share_one_invoice_and_another_day_gets_its_own(waba, regular, premium):
    # given two numbers onboarded on 15 November and one on 20 November, all on one hub
    PhoneNumberFactory(waba=waba, e164="+4915110000002", tier=premium, onboarded_at=utc(2026, 11, 15, 16))
    PhoneNumberFactory(waba=waba, e164="+4915110000001", tier=regular, onboarded_at=utc(2026, 11, 15, 9))
    PhoneNumberFactory(waba=waba, e164="+4915110000003", tier=regular, onboarded_at=utc(2026, 11, 20, 0, 0))

    # when the job runs for each day
    (fifteenth,) = new_numbers_issue(day=dt.date(2026, 11, 15), issued_at=utc(2026, 11, 15, 17))
    (twentieth,) = new_numbers_issue(day=dt.date(2026, 11, 20), issued_at=utc(2026, 11, 20, 1))

    # then the 15th's invoice has a line per number (16/30 days) and the 20th's its own (11/30 days)
    assert fifteenth.kind == InvoiceKind.LICENSE_NEW_NUMBERS
    assert (fifteenth.period_key, fifteenth.period_start, fifteenth.period_end) == (
        "2026-11-15",
        dt.date(2026, 11, 15),
        DEC,
    )
    assert lines(fifteenth) == [
        ("charge", "License +4915110000001 (Regular), 15 Nov – month end (16/30 days of 25.00)", Decimal("13.33")),
        ("charge", "License +4915110000002 (Premium), 15 Nov – month end (16/30 days of 49.00)", Decimal("26.13")),
        ("tax", "VAT 19%", Decimal("7.50")),
    ]
    assert fifteenth.total == Decimal("46.96")
    assert fifteenth.lines.get(position=1).details == {"number": "+4915110000001", "tier": "regular", "days": 16}
    assert lines(twentieth) == [
        ("charge", "License +4915110000003 (Regular), 20 Nov – month end (11/30 days of 25.00)", Decimal("9.17")),
        ("tax", "VAT 19%", Decimal("1.74")),
    ]
    assert (fifteenth.number, twentieth.number) == ("INV-2026-000001", "INV-2026-000002")
    # and running a day again issues nothing
    assert new_numbers_issue(day=dt.date(2026, 11, 15), issued_at=utc(2026, 11, 16, 0, 5)) == []
    assert Invoice.objects.count() == 2


def test_new_numbers_of_different_hubs_get_separate_invoices_and_hub_ids_limit_the_job(regular):
    first = PhoneNumberFactory(e164="+4915110000001", tier=regular, onboarded_at=utc(2026, 11, 15, 9))
    second = PhoneNumberFactory(e164="+4915110000002", tier=regular, onboarded_at=utc(2026, 11, 15, 10))

    only_first = new_numbers_issue(
        day=dt.date(2026, 11, 15), issued_at=utc(2026, 11, 15, 11), hub_ids=[first.waba.hub_id]
    )
    the_rest = new_numbers_issue(day=dt.date(2026, 11, 15), issued_at=utc(2026, 11, 15, 12))

    assert [i.hub_id for i in only_first] == [first.waba.hub_id]
    assert [i.hub_id for i in the_rest] == [second.waba.hub_id]


def test_onboarding_a_number_issues_its_pro_rated_invoice_once_the_transaction_commits(
    waba, regular, django_capture_on_commit_callbacks, settings, tmp_path, mailoutbox
):
    settings.MEDIA_ROOT = tmp_path  # the invoice's PDF is rendered on delivery; keep it out of var/media
    # when a number is onboarded on 15 November (Celery runs eagerly in the test settings)
    with (
        time_machine.travel(utc(2026, 11, 15, 10, 30), tick=False),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        number_onboard(waba=waba, e164="+4915110000001", tier=regular)
        # then nothing is issued before the transaction commits
        assert not Invoice.objects.exists()

    # and after the commit its License Invoice – New Numbers exists
    assert len(callbacks) >= 1
    invoice = Invoice.objects.get()
    assert invoice.kind == InvoiceKind.LICENSE_NEW_NUMBERS
    assert invoice.period_key == "2026-11-15"
    assert invoice.issued_at == utc(2026, 11, 15, 10, 30)
    assert lines(invoice) == [
        ("charge", "License +4915110000001 (Regular), 15 Nov – month end (16/30 days of 25.00)", Decimal("13.33")),
        ("tax", "VAT 19%", Decimal("2.53")),
    ]
    assert invoice.total == Decimal("15.86")


def test_a_number_onboarded_on_the_1st_after_the_license_run_is_billed_in_full_by_the_next_days_sweep(
    waba, regular, django_capture_on_commit_callbacks, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    # given November's License Invoice issued by the 00:05 run for the hub's existing number
    PhoneNumberFactory(waba=waba, e164="+4915110000001", tier=regular, onboarded_at=utc(2026, 9, 1))
    license_issue(hub_ids=[waba.hub_id], month=NOV, issued_at=ISSUED_AT)

    # when a second number is onboarded later that day (nothing is queued for the 1st) and the jobs run again
    with (
        time_machine.travel(utc(2026, 11, 1, 10), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        number_onboard(waba=waba, e164="+4915110000002", tier=regular)
    assert Invoice.objects.count() == 1
    assert license_issue(hub_ids=[waba.hub_id], month=NOV, issued_at=utc(2026, 11, 2, 0, 5)) == []
    (swept,) = new_numbers_issue(day=dt.date(2026, 11, 1), issued_at=utc(2026, 11, 2, 0, 5))

    # then the next day's sweep bills the whole month, once
    assert (swept.kind, swept.period_key) == (InvoiceKind.LICENSE_NEW_NUMBERS, "2026-11-01")
    assert lines(swept) == [
        ("charge", "License +4915110000002 (Regular), 1 Nov – month end (30/30 days of 25.00)", Decimal("25.00")),
        ("tax", "VAT 19%", Decimal("4.75")),
    ]
    assert new_numbers_issue(day=dt.date(2026, 11, 1), issued_at=utc(2026, 11, 3, 0, 5)) == []
    assert InvoiceLine.objects.filter(details__number="+4915110000002").count() == 1


def test_a_number_licensed_by_a_new_numbers_invoice_is_not_billed_again_by_the_license_invoice(waba, regular):
    # given a new hub whose first number was onboarded on the 1st after the run and billed by the sweep
    PhoneNumberFactory(waba=waba, e164="+4915110000001", tier=regular, onboarded_at=utc(2026, 11, 1, 10))
    assert license_issue(hub_ids=[waba.hub_id], month=NOV, issued_at=ISSUED_AT) == []
    (swept,) = new_numbers_issue(day=dt.date(2026, 11, 1), issued_at=utc(2026, 11, 2, 0, 5))

    # when November's License Invoices are issued again (a re-run of the 1st)
    again = license_issue(hub_ids=[waba.hub_id], month=NOV, issued_at=utc(2026, 11, 2, 6))

    # then nothing: the number is licensed for November already; December's License Invoice bills it
    assert again == []
    assert PhoneNumber.objects.get().licensed_through == NOV
    (december,) = license_issue(hub_ids=[waba.hub_id], month=DEC, issued_at=utc(2026, 12, 1, 0, 5))
    assert lines(december)[0] == ("charge", "License +4915110000001 (Regular), December 2026", Decimal("25.00"))


def test_a_second_number_onboarded_later_the_same_day_is_billed_too(
    waba, regular, premium, django_capture_on_commit_callbacks, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    # given a number onboarded at 10:00 on 15 November, invoiced at once
    with (
        time_machine.travel(utc(2026, 11, 15, 10), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        number_onboard(waba=waba, e164="+4915110000001", tier=regular)
    assert Invoice.objects.count() == 1

    # when a second one is onboarded at 15:00, and the next day's sweep runs
    with (
        time_machine.travel(utc(2026, 11, 15, 15), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        number_onboard(waba=waba, e164="+4915110000002", tier=premium)
    new_numbers_issue(day=dt.date(2026, 11, 15), issued_at=utc(2026, 11, 16, 0, 5))

    # then it is billed once, for 16 of 30 days of 49.00, on a second invoice for that day
    second = Invoice.objects.get(period_key="2026-11-15#2")
    assert (second.kind, second.period_start, second.number) == (
        InvoiceKind.LICENSE_NEW_NUMBERS,
        dt.date(2026, 11, 15),
        "INV-2026-000002",
    )
    assert lines(second) == [
        ("charge", "License +4915110000002 (Premium), 15 Nov – month end (16/30 days of 49.00)", Decimal("26.13")),
        ("tax", "VAT 19%", Decimal("4.96")),
    ]
    assert InvoiceLine.objects.filter(details__number="+4915110000002").count() == 1
    assert PhoneNumber.objects.get(e164="+4915110000002").licensed_through == NOV
    assert Invoice.objects.count() == 2


def test_onboarding_on_the_1st_queues_nothing_that_issues_an_invoice(
    waba, regular, django_capture_on_commit_callbacks, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    with (
        time_machine.travel(utc(2026, 11, 1, 10), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        number_onboard(waba=waba, e164="+4915110000001", tier=regular)

    assert not Invoice.objects.exists()
