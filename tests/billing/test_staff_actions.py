"""Staff actions in the admin: each asks for a reason on an intermediate form, calls one billing service and records
a StaffAction (who, why, what changed) in the same transaction. A blank reason is refused and nothing changes; a
double submit of one form acts once; non-staff and staff without the permission cannot act."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import DatabaseError, IntegrityError, transaction
from django.urls import reverse
from djmoney.money import Money

from billing.invoicing.licenses import license_issue
from billing.invoicing.prepayments import topup_issue
from billing.invoicing.settlement import invoice_mark_unpaid
from billing.ledger import ledger_post
from billing.models import (
    CreditAccount,
    EntryKind,
    Invoice,
    InvoiceKind,
    LedgerEntry,
    MessageUsage,
    PaymentAttempt,
    PaymentRefund,
    RateCardRate,
    Restriction,
    RestrictionReason,
    StaffAction,
    StaffActionKind,
    UsageReconciliation,
)
from billing.payments.charging import invoice_charge_automatically
from billing.staff_actions import StaffActionError, staff_ledger_adjust
from billing.usage.ingest import usage_record_batch
from tests.billing.payments.conftest import VISA, localstripe, save_card  # noqa: F401 -- localstripe is a fixture
from tests.factories import ClientFactory, HubFactory, PhoneNumberFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
ISSUED_AT = dt.datetime(2026, 11, 1, 0, 5, tzinfo=dt.UTC)
REQUIRED = "This field is required."


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def staff(client):
    user = UserFactory(username="eva-staff", is_staff=True, is_superuser=True)
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def number(frozen):
    return PhoneNumberFactory(e164="+4915112345678")


@pytest.fixture
def invoice(number):
    """The hub's License Invoice for November 2026: one Regular number, 25.00 + 19% tax, pending."""
    (invoice,) = license_issue(hub_ids=[number.waba.hub_id], month=dt.date(2026, 11, 1), issued_at=ISSUED_AT)
    return invoice


def changelist(model) -> str:
    return reverse(f"admin:billing_{model._meta.model_name}_changelist")


def ask(client, model, action: str, ids: list[int]):
    """Choose the action on the list: the intermediate form comes back with its token."""
    page = client.post(changelist(model), {"action": action, "_selected_action": ids})
    assert page.status_code == 200
    return page, page.context["form"]["token"].value()


def apply(client, model, action: str, ids: list[int], token: str, **data):
    form = {"action": action, "_selected_action": ids, "apply": "1", "token": token, **data}
    return client.post(changelist(model), form, follow=True)


def act(client, model, action: str, ids: list[int], **data):
    _page, token = ask(client, model, action, ids)
    return apply(client, model, action, ids, token, **data)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def only_action(**expected) -> StaffAction:
    action = StaffAction.objects.get()
    assert {name: getattr(action, name) for name in expected} == expected
    return action


# Void ----------------------------------------------------------------------------------------------------------------


def test_staff_void_an_invoice_with_a_reason_and_the_audit_log_says_who_and_why(staff, invoice):
    page, token = ask(staff, Invoice, "void", [invoice.pk])
    assert invoice.number in page.text and 'name="reason"' in page.text

    response = apply(staff, Invoice, "void", [invoice.pk], token, reason="  Issued to the wrong hub  ")

    assert messages_of(response) == [f"{invoice}: voided."]
    invoice.refresh_from_db()
    assert (invoice.status, invoice.void_reason) == ("void", "Issued to the wrong hub")
    action = only_action(user=staff.user, action=StaffActionKind.INVOICE_VOID, reason="Issued to the wrong hub",
                         target_id=str(invoice.pk), target_repr=str(invoice), idempotency_key=f"{token}:{invoice.pk}")
    assert action.details == {"invoice": invoice.number, "total": "29.75", "currency": "EUR",
                              "status": ["pending", "void"]}  # fmt: skip
    assert action.created_at == NOW


def test_a_blank_reason_is_refused_and_nothing_changes(staff, invoice):
    _page, token = ask(staff, Invoice, "void", [invoice.pk])

    response = apply(staff, Invoice, "void", [invoice.pk], token, reason="   ")

    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": [REQUIRED]}
    assert "Please correct the errors below." in response.text
    invoice.refresh_from_db()
    assert invoice.status == "pending"
    assert StaffAction.objects.count() == 0


def test_a_paid_invoice_is_not_voided_and_the_refusal_is_shown(staff, invoice):
    act(staff, Invoice, "mark_paid", [invoice.pk], reason="Paid by transfer", reference="SEPA-1")

    response = act(staff, Invoice, "void", [invoice.pk], reason="Changed our mind")

    assert messages_of(response) == [
        f"{invoice}: Invoice {invoice.number} is paid; a paid invoice is corrected by a credit note."
    ]
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert list(StaffAction.objects.values_list("action", flat=True)) == [StaffActionKind.INVOICE_MARK_PAID]


def test_non_staff_cannot_act_and_nothing_changes(client, invoice):
    client.force_login(UserFactory(username="nordlicht-owner"))

    response = client.post(changelist(Invoice), {"action": "void", "_selected_action": [invoice.pk], "apply": "1",
                                                 "token": "a" * 32, "reason": "Because"})  # fmt: skip

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
    invoice.refresh_from_db()
    assert invoice.status == "pending"
    assert StaffAction.objects.count() == 0


def test_staff_without_the_permission_are_not_offered_the_actions_and_cannot_run_them(client, invoice):
    client.force_login(UserFactory(username="support", is_staff=True))

    page = client.get(changelist(Invoice))
    response = client.post(changelist(Invoice), {"action": "void", "_selected_action": [invoice.pk], "apply": "1",
                                                 "token": "a" * 32, "reason": "Because"}, follow=True)  # fmt: skip

    assert page.status_code == 200
    assert page.context["action_form"] is None  # no action is offered …
    assert "Issue now" not in page.text
    assert (response.status_code, messages_of(response)) == (200, [])  # … and a forged one runs none
    invoice.refresh_from_db()
    assert invoice.status == "pending"
    assert client.get(reverse("admin:billing_invoice_issue_now")).status_code == 403


# Mark paid, email, PDF -----------------------------------------------------------------------------------------------


def test_staff_mark_an_unpaid_invoice_paid_by_bank_transfer_and_its_restriction_lifts(staff, invoice):
    invoice_mark_unpaid(invoice=invoice)
    unpaid = Restriction.objects.get(reason=RestrictionReason.LICENSE_UNPAID)
    assert unpaid.lifted_at is None

    response = act(staff, Invoice, "mark_paid", [invoice.pk], reason="Transfer arrived on 20 Nov",
                   reference="SEPA 2026-11-20 NORDLICHT")  # fmt: skip

    assert messages_of(response) == [f"{invoice}: marked paid by bank transfer."]
    invoice.refresh_from_db()
    assert (invoice.status, invoice.paid_at) == ("paid", NOW)
    unpaid.refresh_from_db()
    assert unpaid.lifted_at == NOW
    action = only_action(action=StaffActionKind.INVOICE_MARK_PAID, user=staff.user, reason="Transfer arrived on 20 Nov")
    assert action.details == {"invoice": invoice.number, "total": "29.75", "currency": "EUR",
                              "status": ["unpaid", "paid"], "bank_reference": "SEPA 2026-11-20 NORDLICHT"}  # fmt: skip


def test_marking_paid_needs_the_bank_reference(staff, invoice):
    response = act(staff, Invoice, "mark_paid", [invoice.pk], reason="Transfer arrived")

    assert response.context["form"].errors == {"reference": [REQUIRED]}
    invoice.refresh_from_db()
    assert invoice.status == "pending"
    assert StaffAction.objects.count() == 0


def test_staff_resend_the_invoice_email_with_its_pdf(staff, invoice, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = act(staff, Invoice, "email_resend", [invoice.pk], reason="Client lost the first email")

    recipient = invoice.billed_company["billing_email"]
    assert messages_of(response) == [f"{invoice}: emailed to {recipient}."]
    (email,) = mailoutbox
    assert email.to == [recipient]
    assert email.subject.startswith(f"License Invoice {invoice.number} from ")
    ((filename, content, mimetype),) = email.attachments
    assert (filename, mimetype, content[:4]) == (f"{invoice.number}.pdf", "application/pdf", b"%PDF")
    action = only_action(action=StaffActionKind.INVOICE_EMAIL_RESEND, reason="Client lost the first email")
    assert action.details["to"] == recipient


def test_a_blank_reason_sends_no_email(staff, invoice, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = act(staff, Invoice, "email_resend", [invoice.pk], reason="")

    assert response.context["form"].errors == {"reason": [REQUIRED]}
    assert mailoutbox == []
    assert StaffAction.objects.count() == 0


def test_staff_regenerate_the_pdf(staff, invoice, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path

    response = act(staff, Invoice, "pdf_regenerate", [invoice.pk], reason="Company address corrected in template")

    assert messages_of(response) == [f"{invoice}: PDF regenerated."]
    invoice.refresh_from_db()
    assert (tmp_path / invoice.pdf.name).read_bytes().startswith(b"%PDF")
    action = only_action(action=StaffActionKind.INVOICE_PDF_REGENERATE)
    assert action.details["pdf"] == ["", invoice.pdf.name]


# Issue now -----------------------------------------------------------------------------------------------------------


def issue_now(client, **data):
    url = reverse("admin:billing_invoice_issue_now")
    page = client.get(url)
    assert page.status_code == 200
    token = page.context["form"]["token"].value()
    return client.post(url, {"apply": "1", "token": token, **data}, follow=True)


def test_staff_issue_a_hubs_license_invoice_now(staff, number):
    hub = number.waba.hub
    assert f'href="{reverse("admin:billing_invoice_issue_now")}"' in staff.get(changelist(Invoice)).text

    response = issue_now(staff, kind="LICENSE", month="2026-11-05", hub=hub.pk, reason="Onboarded late, bill today")

    invoice = Invoice.objects.get()
    assert (invoice.kind, invoice.period_start, invoice.hub, invoice.total) == (
        InvoiceKind.LICENSE, dt.date(2026, 11, 1), hub, Decimal("29.75"),
    )  # fmt: skip
    assert messages_of(response) == [f"Issued {invoice.number}."]
    action = only_action(action=StaffActionKind.INVOICES_ISSUE, target_repr=str(hub), user=staff.user)
    issued = [{"invoice": invoice.number, "total": "29.75", "currency": "EUR"}]
    assert action.details == {"kind": "LICENSE", "month": "2026-11-01", "invoices": issued}


def test_issuing_again_issues_nothing_and_records_nothing(staff, invoice):
    response = issue_now(staff, kind="LICENSE", month="2026-11-01", hub=invoice.hub_id, reason="Once more")

    assert response.context["form"].non_field_errors() == [
        "Nothing was issued: the License Invoice for November 2026 already exists or there is nothing to bill."
    ]
    assert Invoice.objects.count() == 1
    assert StaffAction.objects.count() == 0


def test_issue_now_refuses_a_blank_reason_a_month_not_over_and_a_partner_for_a_hub_invoice(staff, number):
    hub = number.waba.hub

    blank = issue_now(staff, kind="LICENSE", month="2026-11-01", hub=hub.pk, reason=" ")
    open_month = issue_now(staff, kind="MONTH_CLOSING", month="2026-11-01", hub=hub.pk, reason="Close it")
    wrong_party = issue_now(staff, kind="LICENSE", month="2026-11-01", partner=hub.client.partner_id, reason="x")

    assert blank.context["form"].errors == {"reason": [REQUIRED]}
    assert open_month.context["form"].non_field_errors() == ["November 2026 is not over yet: it cannot be billed now."]
    assert wrong_party.context["form"].non_field_errors() == ["This invoice is issued to a hub: choose a hub only."]
    assert Invoice.objects.count() == 0
    assert StaffAction.objects.count() == 0


# Ledger: manual adjustment, reconciliation ---------------------------------------------------------------------------


def test_staff_post_a_manual_adjustment_and_a_double_submit_posts_once(staff, number):
    account = number.waba.hub.credit_account
    _page, token = ask(staff, CreditAccount, "adjust", [account.pk])

    first = apply(staff, CreditAccount, "adjust", [account.pk], token, amount="12.50", reason="Outage compensation")
    second = apply(staff, CreditAccount, "adjust", [account.pk], token, amount="12.50", reason="Outage compensation")

    assert messages_of(first) == [f"{account}: adjusted by 12.50 EUR."]
    assert messages_of(second) == [f"{account}: adjusted by 12.50 EUR."]
    entry = LedgerEntry.objects.get()
    assert (entry.kind, entry.amount, entry.memo, entry.created_by) == (
        EntryKind.MANUAL_ADJUSTMENT, Decimal("12.50"), "Outage compensation", staff.user,
    )  # fmt: skip
    account.refresh_from_db()
    assert account.balance == Decimal("12.50")
    action = only_action(action=StaffActionKind.LEDGER_ADJUST, reason="Outage compensation")
    assert action.details == {"amount": "12.50", "currency": "EUR", "balance": ["0.000000", "12.500000"],
                              "entry": entry.pk, "period": "2026-11-01"}  # fmt: skip
    assert entry.idempotency_key == f"staff:{token}:{account.pk}"


def test_a_negative_adjustment_takes_credit_off_and_a_blank_reason_posts_nothing(staff, number):
    account = number.waba.hub.credit_account
    ledger_post(account=account, kind=EntryKind.FUNDS_ADDED, amount=Money("20", "EUR"), key="pay:1")

    blank = act(staff, CreditAccount, "adjust", [account.pk], amount="-5.00", reason="")
    taken = act(staff, CreditAccount, "adjust", [account.pk], amount="-5.00", reason="Duplicate top-up credited")

    assert blank.context["form"].errors == {"reason": [REQUIRED]}
    assert messages_of(taken) == [f"{account}: adjusted by -5.00 EUR."]
    account.refresh_from_db()
    assert account.balance == Decimal("15.00")
    assert LedgerEntry.objects.filter(kind=EntryKind.MANUAL_ADJUSTMENT).count() == 1
    assert StaffAction.objects.count() == 1


def test_staff_post_metas_report_as_a_reconciliation(staff, number):
    RateCardRate.objects.create(effective_date=dt.date(2026, 7, 1), currency="EUR", market="DE", category="marketing",
                                rate=Decimal("0.130000"), source="rates.csv")  # fmt: skip
    ledger_post(account=number.waba.hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money("50", "EUR"),
                key="pay:1")  # fmt: skip
    usage_record_batch(events=[{
        "message_id": "wamid.1", "waba_id": number.waba.meta_waba_id, "phone_number": number.e164,
        "recipient_country": "DE", "category": "marketing", "billable": True, "timestamp": "2026-11-03T10:15:00Z",
    }])  # fmt: skip
    assert MessageUsage.objects.count() == 1
    url = reverse("admin:billing_usagereconciliation_post")
    assert f'href="{url}"' in staff.get(changelist(UsageReconciliation)).text
    token = staff.get(url).context["form"]["token"].value()
    report = f"date,waba_id,currency,cost\n2026-11-03,{number.waba.meta_waba_id},EUR,0.200000\n"

    response = staff.post(url, {"apply": "1", "token": token, "report": report, "reason": "Meta's November report"},
                          follow=True)  # fmt: skip

    assert messages_of(response) == ["Reconciled 1 WABA day(s); 1 adjustment(s) posted."]
    entry = LedgerEntry.objects.get(kind=EntryKind.RECONCILIATION)
    assert entry.amount == Decimal("-0.07")
    assert UsageReconciliation.objects.get().adjustment == Decimal("-0.07")
    action = only_action(action=StaffActionKind.USAGE_RECONCILE, reason="Meta's November report", target_repr="")
    assert action.details == {"rows": [{"waba": number.waba.meta_waba_id, "day": "2026-11-03", "currency": "EUR",
                                        "meta_cost": "0.200000", "rated_cost": "0.130000", "posted": "-0.07"}]}


def test_a_bad_report_is_rejected_with_its_line_and_posts_nothing(staff, number):
    url = reverse("admin:billing_usagereconciliation_post")
    token = staff.get(url).context["form"]["token"].value()

    response = staff.post(url, {"apply": "1", "token": token, "report": "date,waba,cost\n", "reason": "Import"})

    assert response.context["form"].non_field_errors() == ["line 1: header must be exactly: date,waba_id,currency,cost"]
    assert UsageReconciliation.objects.count() == 0
    assert StaffAction.objects.count() == 0


# Restrictions --------------------------------------------------------------------------------------------------------


def test_staff_lift_a_restriction_with_a_reason_until_a_time(staff, invoice):
    invoice_mark_unpaid(invoice=invoice)
    restriction = Restriction.objects.get(reason=RestrictionReason.LICENSE_UNPAID)
    listed_as = str(restriction)

    response = act(staff, Restriction, "lift", [restriction.pk], reason="Client promised payment by Friday",
                   hold_until="2026-11-27 18:00:00")  # fmt: skip

    restriction.refresh_from_db()
    until = dt.datetime(2026, 11, 27, 18, tzinfo=dt.UTC)
    assert (restriction.lifted_at, restriction.lifted_by, restriction.lift_reason, restriction.override_until) == (
        NOW, staff.user, "Client promised payment by Friday", until,
    )  # fmt: skip
    assert messages_of(response) == [f"{listed_as}: lifted until {until}."]
    action = only_action(action=StaffActionKind.RESTRICTION_LIFT, target_id=str(restriction.pk))
    assert action.details == {"reason": "LICENSE_UNPAID", "detail": restriction.detail,
                              "hold_until": "2026-11-27T18:00:00Z"}  # fmt: skip


def test_lifting_with_a_blank_reason_keeps_the_block(staff, invoice):
    invoice_mark_unpaid(invoice=invoice)
    restriction = Restriction.objects.get(reason=RestrictionReason.LICENSE_UNPAID)

    response = act(staff, Restriction, "lift", [restriction.pk], reason="")

    assert response.context["form"].errors == {"reason": [REQUIRED]}
    restriction.refresh_from_db()
    assert restriction.lifted_at is None
    assert StaffAction.objects.count() == 0


# Refunds (localstripe) -----------------------------------------------------------------------------------------------


@pytest.fixture
def paid_topup(localstripe):  # noqa: F811 -- the fixture imported above
    """A 50.00 EUR top-up paid by card: 50.00 + 4% fee + 19% tax = 61.88 charged, 50.00 on the credit balance."""
    hub = HubFactory(client=ClientFactory(country="DE"))
    save_card(localstripe, hub.client, VISA)
    invoice = topup_issue(hub=hub, amount=Decimal("50.00"), request_key="staff-1")
    invoice_charge_automatically(invoice_id=invoice.pk)
    return PaymentAttempt.objects.get(invoice=invoice, status="succeeded")


def test_staff_refund_part_of_a_payment_and_a_double_submit_refunds_once(staff, paid_topup):
    attempt = paid_topup
    _page, token = ask(staff, PaymentAttempt, "refund", [attempt.pk])
    blank = apply(staff, PaymentAttempt, "refund", [attempt.pk], token, amount="20.00", reason="")

    first = apply(staff, PaymentAttempt, "refund", [attempt.pk], token, amount="20.00", reason="Charged twice")
    second = apply(staff, PaymentAttempt, "refund", [attempt.pk], token, amount="20.00", reason="Charged twice")

    assert blank.context["form"].errors == {"reason": [REQUIRED]}
    assert messages_of(first) == [f"{attempt}: refund 20.00 EUR succeeded."]
    assert messages_of(second) == messages_of(first)
    refund = PaymentRefund.objects.get()
    assert (refund.amount, refund.funds_amount, refund.status, refund.reason, refund.created_by) == (
        Decimal("20.00"), Decimal("16.16"), "succeeded", "Charged twice", staff.user,
    )  # fmt: skip
    # The audit row is written with the refund, before Stripe is asked; Stripe's answer is on the refund (above).
    action = only_action(action=StaffActionKind.PAYMENT_REFUND, user=staff.user, reason="Charged twice")
    assert action.details == {"invoice": attempt.invoice.number, "refund": refund.pk, "amount": "20.00",
                              "currency": "EUR", "funds_amount": "16.16"}  # fmt: skip


def test_staff_return_remaining_credit_to_the_card(staff, paid_topup):
    account = CreditAccount.objects.get(hub=paid_topup.invoice.hub)

    response = act(staff, CreditAccount, "credit_refund", [account.pk], amount="30.00", reason="Client leaves")

    assert messages_of(response) == [f"{account}: 30.00 EUR of credit returned."]
    account.refresh_from_db()
    assert account.balance == Decimal("20.00")
    refund = PaymentRefund.objects.get()
    assert (refund.funds_amount, refund.status) == (Decimal("30.00"), "succeeded")
    action = only_action(action=StaffActionKind.CREDIT_REFUND, reason="Client leaves")
    assert action.details == {"amount": "30.00", "currency": "EUR", "balance": ["50.000000", "20.000000"],
                              "refunds": [refund.pk]}  # fmt: skip


# The audit log itself ------------------------------------------------------------------------------------------------


def test_the_audit_log_is_append_only_in_the_database(number):
    staff_user = UserFactory(username="eva-staff", is_staff=True)
    action = staff_ledger_adjust(user=staff_user, account=number.waba.hub.credit_account, amount=Decimal("1.00"),
                                 reason="Goodwill", key="k-1")  # fmt: skip

    for statement in (lambda: StaffAction.objects.filter(pk=action.pk).update(reason="Edited"),
                      lambda: StaffAction.objects.filter(pk=action.pk).delete()):  # fmt: skip
        with pytest.raises(DatabaseError, match="staff actions are an append-only audit log"), transaction.atomic():
            statement()

    assert StaffAction.objects.get().reason == "Goodwill"


def test_a_blank_reason_is_refused_by_the_service_and_by_the_database(number):
    staff_user = UserFactory(username="eva-staff", is_staff=True)
    account = number.waba.hub.credit_account

    with pytest.raises(StaffActionError, match="A staff action needs a reason."):
        staff_ledger_adjust(user=staff_user, account=account, amount=Decimal("1.00"), reason=" \n", key="k-1")
    with pytest.raises(IntegrityError, match="staff_action_has_reason"), transaction.atomic():
        StaffAction.objects.create(user=staff_user, created_at=NOW, action=StaffActionKind.LEDGER_ADJUST,
                                   reason="  ", idempotency_key="k-2")  # fmt: skip

    assert LedgerEntry.objects.count() == 0


def test_staff_find_actions_by_action_user_and_reason(staff, number):
    other = UserFactory(username="otto-staff", is_staff=True)
    account = number.waba.hub.credit_account
    mine = staff_ledger_adjust(user=staff.user, account=account, amount=Decimal("1.00"), reason="Goodwill", key="a")
    theirs = staff_ledger_adjust(user=other, account=account, amount=Decimal("2.00"), reason="Outage", key="b")
    url = changelist(StaffAction)

    def listed(query):
        return [row.pk for row in staff.get(url, query).context["cl"].result_list]

    assert listed({}) == [theirs.pk, mine.pk]
    assert listed({"user__id__exact": other.pk}) == [theirs.pk]
    assert listed({"q": "goodwill"}) == [mine.pk]
    assert listed({"action__exact": "LEDGER_ADJUST"}) == [theirs.pk, mine.pk]
    assert listed({"action__exact": "INVOICE_VOID"}) == []
    assert staff.get(reverse("admin:billing_staffaction_change", args=[mine.pk])).status_code == 200
    assert staff.post(reverse("admin:billing_staffaction_delete", args=[mine.pk]), {"post": "yes"}).status_code == 403
