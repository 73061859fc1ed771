"""The admin site, as a staff superuser, on a small but complete database: every registered admin lists, searches
and filters; the books (ledger, credit accounts, usage, rates, audit runs) are read-only; a partner's currency is
fixed once created. The registry is iterated, so a model registered later is covered without editing this file."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule
from djmoney.money import Money

from billing.audit import audit_run_record
from billing.invoicing.licenses import license_issue
from billing.invoicing.settlement import credit_note_issue, invoice_mark_unpaid
from billing.ledger import ledger_post
from billing.models import (
    AuditRun,
    CreditAccount,
    EntryKind,
    ExchangeRate,
    LedgerEntry,
    MessageUsage,
    MetaPricingPoint,
    MetaWebhookSkip,
    NumberAllowanceCounter,
    RateCardAllowance,
    RateCardRate,
    RateCardTier,
    StaffAction,
    UsageReconciliation,
    UsageVolumeCounter,
)
from billing.reconciliation import reconciliation_parse, usage_reconcile
from billing.usage.ingest import usage_record_batch
from clients.models import ClientMembership
from partners.models import Partner, PartnerMembership
from tests.factories import PhoneNumberFactory, UserFactory

pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry, key=lambda model: model._meta.label)
READ_ONLY = [
    LedgerEntry, CreditAccount, MessageUsage, RateCardRate, AuditRun, UsageReconciliation, StaffAction, MetaWebhookSkip,
    RateCardTier, UsageVolumeCounter, MetaPricingPoint, NumberAllowanceCounter,
]  # fmt: skip
NO_SUCH_THING = "zz-no-such-thing-zz"


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC), tick=False):
        yield


@pytest.fixture(autouse=True)
def database():
    """One partner, client, hub, WABA and number; a rate, funds, two messages, a day reconciled with Meta's
    report, memberships, an audit run, a row in each of the scheduler's tables, a staff action, an API key, a user
    profile and a row in each of django-axes's tables."""
    RateCardRate.objects.create(
        effective_date=dt.date(2026, 7, 1),
        currency="EUR",
        market="DE",
        category="marketing",
        rate=Decimal("0.130000"),
        source="rates-2026-07.csv",
    )
    number = PhoneNumberFactory(e164="+4915112345678", display_name="Support line")
    hub = number.waba.hub
    ledger_post(account=hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money("50", "EUR"), key="pay:1")
    UsageVolumeCounter.objects.create(client=number.waba.hub.client, market="DE", category="utility",
                                      month=dt.date(2026, 11, 1), count=3)  # fmt: skip
    MetaPricingPoint.objects.create(waba=number.waba, day=dt.date(2026, 11, 3), category="marketing", country="DE",
                                    pricing_type="regular", volume=2, cost=Decimal("0.260000"))  # fmt: skip
    RateCardAllowance.objects.create(effective_date=dt.date(2026, 7, 1), category="service", free_per_month=1000)
    ExchangeRate.objects.create(currency="USD", month=dt.date(2026, 11, 1), rate=Decimal("1.085000"),
                                source="BMF monthly rate 11/2026")  # fmt: skip
    NumberAllowanceCounter.objects.create(phone_number=number, category="service", month=dt.date(2026, 11, 1), used=4)
    result = usage_record_batch(
        events=[
            {
                "message_id": f"wamid.{n}",
                "waba_id": number.waba.meta_waba_id,
                "phone_number": number.e164,
                "recipient_country": "DE",
                "category": "marketing",
                "billable": True,
                "timestamp": "2026-11-03T10:15:00Z",
            }
            for n in (1, 2)
        ]
    )
    assert result.accepted == 2
    PartnerMembership.objects.create(user=UserFactory(username="partner-owner"), partner=hub.client.partner)
    ClientMembership.objects.create(user=UserFactory(username="client-owner"), client=hub.client)
    Group.objects.create(name="Finance")
    crontab = CrontabSchedule.objects.create(minute="0", hour="3")
    IntervalSchedule.objects.create(every=1, period=IntervalSchedule.DAYS)
    SolarSchedule.objects.create(event="sunrise", latitude=Decimal("52.52"), longitude=Decimal("13.40"))
    ClockedSchedule.objects.create(clocked_time=dt.datetime(2026, 12, 1, 3, tzinfo=dt.UTC))
    PeriodicTask.objects.create(
        name="nightly ledger audit",
        task="billing.ledger_audit",
        crontab=crontab,
        start_time=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
    )
    meta_report = ["date,waba_id,currency,cost", f"2026-11-03,{number.waba.meta_waba_id},EUR,0.300000"]
    usage_reconcile(rows=reconciliation_parse(lines=meta_report))
    audit_run_record()
    (invoice,) = license_issue(hub_ids=[hub.id], month=dt.date(2026, 11, 1), issued_at=ISSUED_AT)
    credit_note_issue(invoice=invoice, amount=Decimal("5.00"), reason="Goodwill for a late onboarding")
    invoice_mark_unpaid(invoice=invoice)  # starts a LICENSE_UNPAID restriction
    _payment_rows(hub, invoice)
    _portal_rows(hub)
    _alert_rows(hub)
    _operation_rows()
    return number


def _alert_rows(hub) -> None:
    """A card expiry reminder, the partner's webhook endpoint and one delivery to it."""
    from billing.models import CardExpiryReminder, PaymentMethod, WebhookDelivery, WebhookEndpoint

    card = PaymentMethod.objects.get(client=hub.client, stripe_payment_method_id="pm_admin_test")
    CardExpiryReminder.objects.create(payment_method=card, days_before=30, sent_at=ISSUED_AT)
    endpoint = WebhookEndpoint.objects.create(partner=hub.client.partner, url="https://hooks.nordlicht.example/hub",
                                              secret="whsec_admin_test", created_at=ISSUED_AT)  # fmt: skip
    WebhookDelivery.objects.create(endpoint=endpoint, event_id="evt_admin_delivery", event_type="webhook.test",
                                   body="{}", created_at=ISSUED_AT, attempts=1, last_status_code=200,
                                   status="delivered", delivered_at=ISSUED_AT)  # fmt: skip


def _operation_rows() -> None:
    """A billing run and a staff job."""
    from billing.models import BillingRun
    from billing.staff_jobs import staff_job_create

    BillingRun.objects.create(
        day=ISSUED_AT.date(), source="beat", jobs=["licenses"], expected={"LICENSE": 1}, issued=1, chunks_total=1,
        chunks_done=1, started_at=ISSUED_AT, finished_at=ISSUED_AT,
    )  # fmt: skip
    job = staff_job_create(kind="billing_day", params={"day": "2026-11-01"})
    job.message = "Billing job: licenses"
    job.save()


def _portal_rows(hub) -> None:
    """A staff adjustment in the audit log, a service API key, a user's timezone, django-axes's sign-in records."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    from api.keys import api_key_create
    from billing.staff_actions import staff_ledger_adjust
    from portal.models import UserProfile

    staff = UserFactory(username="staff-member", is_staff=True)
    staff_ledger_adjust(user=staff, account=hub.credit_account, amount=Decimal("2.00"),
                        reason="Goodwill for a delayed onboarding", key="admin-test-adjustment")  # fmt: skip
    api_key_create(name="Messaging platform", created_by=staff)
    UserProfile.objects.create(user=staff, timezone="Europe/Berlin")
    sign_in = {"user_agent": "Mozilla/5.0 (X11; Linux x86_64)", "ip_address": "203.0.113.7",
               "username": "nordlicht-owner", "http_accept": "text/html", "path_info": "/accounts/login/"}  # fmt: skip
    AccessAttempt.objects.create(**sign_in, get_data="", post_data="username=nordlicht-owner", failures_since_start=2)
    AccessLog.objects.create(**sign_in, session_hash="a" * 64)
    AccessFailureLog.objects.create(**sign_in, locked_out=False)


def _payment_rows(hub, invoice) -> None:
    """A saved card, its Stripe customer, a declined attempt under dunning, a refund, a webhook, a BRL rate."""
    from djmoney.contrib.exchange.models import ExchangeBackend, Rate

    from billing.models import (
        InvoiceDunning,
        PaymentAttempt,
        PaymentMethod,
        PaymentRefund,
        StripeCustomer,
        StripeEvent,
    )

    card = PaymentMethod.objects.create(
        client=hub.client, kind="card", brand="visa", last4="4242", stripe_payment_method_id="pm_admin_test"
    )
    StripeCustomer.objects.create(client=hub.client, stripe_customer_id="cus_admin_test")
    attempt = PaymentAttempt.objects.create(
        invoice=invoice, payment_method=card, method_kind="card", method_label="Visa •••• 4242", purpose="invoice",
        round="automatic", amount=invoice.total, currency=invoice.currency, idempotency_key="attempt-admin-test",
        status="failed",
    )  # fmt: skip
    PaymentRefund.objects.create(
        attempt=attempt, amount=Decimal("1.00"), currency=invoice.currency, source="payment", reason="Test refund",
        idempotency_key="refund-admin-test",
    )  # fmt: skip
    InvoiceDunning.objects.create(invoice=invoice, failed_at=ISSUED_AT)
    StripeEvent.objects.create(id="evt_admin_test", type="payment_intent.succeeded", payload={}, received_at=ISSUED_AT)
    Rate.objects.create(backend=ExchangeBackend.objects.get(name="staff-eur"), currency="BRL", value=Decimal("6.2"))
    RateCardTier.objects.create(effective_date=dt.date(2026, 7, 1), currency="EUR", market="DE", category="utility",
                                volume_from=0, rate=Decimal("0.040000"), source="tiers.csv")  # fmt: skip
    MetaWebhookSkip.objects.create(
        received_at=ISSUED_AT,
        waba_id="2001",
        phone_number_id="106540352242922",
        field="messages",
        message_id="wamid.in1",
        reason="1 incoming message(s): customers' messages are not billed",
        payload={"messages": [{"id": "wamid.in1"}]},
    )


ISSUED_AT = dt.datetime(2026, 11, 1, 0, 5, tzinfo=dt.UTC)


def changelist_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def label(model) -> str:
    return model._meta.label


def listed(response) -> list:
    return [row.pk for row in response.context["cl"].result_list]


def search_terms(model, model_admin, obj) -> list[str]:
    """One term per search field: the object's own value of that field, so the search must find it."""
    terms = []
    for field in model_admin.search_fields:
        path = field.lstrip("^=@")
        values = model._default_manager.filter(pk=obj.pk).values_list(path, flat=True)
        value = next((str(v) for v in values if v not in (None, "")), None)
        if value is not None:
            terms.append(value)
    return terms


def test_the_database_has_a_row_for_every_registered_model():
    """Without a row, a changelist renders no column and a search finds nothing: add one to `database`."""
    assert [label(model) for model in REGISTERED if not model._default_manager.exists()] == []


@pytest.mark.parametrize("model", REGISTERED, ids=label)
def test_every_changelist_lists_its_rows(admin_client, model):
    response = admin_client.get(changelist_url(model))

    assert response.status_code == 200
    assert len(listed(response)) == model._default_manager.count()


@pytest.mark.parametrize("model", [m for m in REGISTERED if admin.site._registry[m].search_fields], ids=label)
def test_every_search_finds_the_row_by_each_searched_field_and_nothing_else(admin_client, model):
    model_admin = admin.site._registry[model]
    obj = model._default_manager.order_by("pk").first()
    terms = search_terms(model, model_admin, obj) if obj else []  # no row: see the test above
    assert terms or obj is None, f"no searchable value on {obj!r}"

    for term in terms:
        response = admin_client.get(changelist_url(model), {"q": term})
        assert response.status_code == 200, term
        assert obj.pk in listed(response), term
    response = admin_client.get(changelist_url(model), {"q": NO_SUCH_THING})
    assert response.status_code == 200
    assert listed(response) == []


@pytest.mark.parametrize("model", [m for m in REGISTERED if admin.site._registry[m].list_filter], ids=label)
def test_every_choice_of_every_filter_applies(admin_client, model):
    url = changelist_url(model)
    changelist = admin_client.get(url).context["cl"]
    choices = [
        (spec.title, choice["query_string"])
        for spec in changelist.filter_specs
        for choice in spec.choices(changelist)
        if not choice["selected"]
    ]
    assert choices != []  # a filter with a single choice (one partner) offers none and is not shown

    # A lookup the admin cannot apply redirects to "?e=1" (302) instead of listing.
    failed = [(title, query) for title, query in choices if admin_client.get(url + query).status_code != 200]

    assert failed == []


@pytest.mark.parametrize("model", [m for m in REGISTERED if admin.site._registry[m].date_hierarchy], ids=label)
def test_every_date_hierarchy_drills_down_to_the_rows_day(admin_client, model):
    field = admin.site._registry[model].date_hierarchy
    obj = model._default_manager.exclude(**{field: None}).order_by("pk").first()
    value = getattr(obj, field) if obj else dt.date(2026, 11, 22)  # no row: see above
    day = timezone.localtime(value).date() if isinstance(value, dt.datetime) else value  # a DateField is a day

    response = admin_client.get(
        changelist_url(model), {f"{field}__year": day.year, f"{field}__month": day.month, f"{field}__day": day.day}
    )

    assert response.status_code == 200
    assert obj is None or obj.pk in listed(response)


def test_the_hub_change_page_shows_the_hub_and_its_wabas(admin_client, database):
    hub = database.waba.hub

    response = admin_client.get(admin_url(type(hub), "change", hub.pk))

    assert response.status_code == 200
    assert hub.hub_id in response.text
    assert database.waba.meta_waba_id in response.text


def test_the_phone_number_change_page_opens(admin_client, database):
    response = admin_client.get(admin_url(type(database), "change", database.pk))

    assert response.status_code == 200
    assert 'value="+4915112345678"' in response.text


def test_the_partner_change_page_opens(admin_client, database):
    partner = database.waba.hub.client.partner

    response = admin_client.get(admin_url(Partner, "change", partner.pk))

    assert response.status_code == 200
    assert f'value="{partner.name}"' in response.text
    assert "partner-owner" in response.text  # the membership inline


@pytest.mark.parametrize("model", READ_ONLY, ids=label)
def test_the_books_cannot_be_added_to_in_the_admin(admin_client, model):
    rows = model._default_manager.count()

    response = admin_client.post(admin_url(model, "add"), {})

    assert response.status_code == 403
    assert model._default_manager.count() == rows
    changelist = admin_client.get(changelist_url(model))
    assert changelist.context["has_add_permission"] is False
    assert admin_url(model, "add") not in changelist.text


@pytest.mark.parametrize("model", READ_ONLY, ids=label)
def test_the_books_can_be_viewed_but_not_changed_in_the_admin(admin_client, model):
    obj = model._default_manager.order_by("pk").first()
    url = admin_url(model, "change", obj.pk)

    page = admin_client.get(url)
    post = admin_client.post(url, {"_save": "Save"})

    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert admin.site._registry[model].has_change_permission(page.wsgi_request, obj) is False
    assert 'name="_save"' not in page.text
    assert post.status_code == 403


@pytest.mark.parametrize("model", READ_ONLY, ids=label)
def test_the_books_cannot_be_deleted_in_the_admin(admin_client, model):
    obj = model._default_manager.order_by("pk").first()

    response = admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"})
    bulk = admin_client.post(
        changelist_url(model), {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"}
    )

    assert response.status_code == 403
    assert model._default_manager.filter(pk=obj.pk).exists()
    assert "delete_selected" not in admin.site._registry[model].get_actions(bulk.wsgi_request)
    assert model._default_manager.filter(pk=obj.pk).exists()


def unchanged_form_data(response) -> dict:
    """The change form's fields (and its inlines') as a browser would post them back untouched."""
    forms, data = [response.context["adminform"].form], {}
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({management[name].html_name: management[name].value() for name in management.fields})
        forms += inline.formset.forms
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is True:
                data[form[name].html_name] = "on"
            elif value not in (None, False):
                data[form[name].html_name] = value
    return data


def test_a_partners_currency_is_read_only_once_created(admin_client, database):
    partner = database.waba.hub.client.partner
    url = admin_url(Partner, "change", partner.pk)

    add_page = admin_client.get(admin_url(Partner, "add"))
    change_page = admin_client.get(url)

    assert 'name="currency"' in add_page.text  # chosen when the partner is set up …
    assert 'name="currency"' not in change_page.text  # … and only shown afterwards
    assert "currency" not in change_page.context["adminform"].form.fields
    assert '<div class="readonly">Euro</div>' in change_page.text

    data = unchanged_form_data(change_page) | {"name": "Renamed partner", "currency": "USD", "_save": "Save"}
    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    partner.refresh_from_db()
    assert (partner.name, partner.currency) == ("Renamed partner", "EUR")


def _phone_number_form(number, **changes) -> dict:
    local = timezone.localtime(number.onboarded_at)
    return {"waba": number.waba_id, "e164": number.e164, "display_name": number.display_name,
            "meta_phone_number_id": number.meta_phone_number_id, "tier": number.tier_id, "status": number.status,
            "onboarded_at_0": local.date().isoformat(), "onboarded_at_1": local.time().isoformat(),
            "deletion_requested_at_0": "", "deletion_requested_at_1": "", "deleted_at_0": "", "deleted_at_1": "",
            **changes}  # fmt: skip


def test_staff_set_the_meta_phone_number_id_digits_only_and_unique(admin_client, database):
    url = admin_url(type(database), "change", database.pk)

    response = admin_client.post(url, _phone_number_form(database, meta_phone_number_id="106540352242922"))
    assert response.status_code == 302, response.text
    database.refresh_from_db()
    assert database.meta_phone_number_id == "106540352242922"

    response = admin_client.post(url, _phone_number_form(database, meta_phone_number_id="1065 4035"))
    assert "Meta&#x27;s phone number ID is a string of digits." in response.text
    other = PhoneNumberFactory(e164="+4915112340001", meta_phone_number_id="999000111")
    response = admin_client.post(url, _phone_number_form(database, meta_phone_number_id="999000111"))
    assert "Another number already has this Meta phone number ID." in response.text
    database.refresh_from_db()
    assert (database.meta_phone_number_id, other.meta_phone_number_id) == ("106540352242922", "999000111")
