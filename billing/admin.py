from django.contrib import admin

from billing.models import AuditRun, CreditAccount, LedgerEntry, UsageReconciliation
from hub.admin import ReadOnlyAdmin


@admin.register(CreditAccount)
class CreditAccountAdmin(ReadOnlyAdmin):
    list_display = ["hub", "client", "currency", "balance", "closed_through", "updated_at"]
    list_filter = ["currency"]
    list_select_related = ["hub__client"]
    search_fields = ["hub__hub_id", "hub__client__company_name"]

    @admin.display(ordering="hub__client__company_name")
    def client(self, account):
        return account.hub.client


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "hub",
        "kind",
        "amount",
        "currency",
        "balance_after",
        "period",
        "occurred_at",
        "reference",
        "idempotency_key",
    ]
    list_filter = ["kind", "currency", "period"]
    list_select_related = ["account__hub"]
    search_fields = ["idempotency_key", "reference", "account__hub__hub_id"]
    date_hierarchy = "occurred_at"

    @admin.display(ordering="account__hub__hub_id")
    def hub(self, entry):
        return entry.account.hub.hub_id


@admin.register(AuditRun)
class AuditRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "finished_at", "accounts", "violation_count"]
    date_hierarchy = "started_at"

    @admin.display(description="violations")
    def violation_count(self, run):
        return len(run.violations)


@admin.register(UsageReconciliation)
class UsageReconciliationAdmin(ReadOnlyAdmin):
    """Meta's daily cost against the rated usage, and the adjustment posted so far (`manage.py reconcile_usage`)."""

    list_display = ["waba", "day", "currency", "rated_cost", "meta_cost", "adjustment", "updated_at"]
    list_filter = ["day", "currency"]
    list_select_related = ["waba"]
    search_fields = ["waba__meta_waba_id"]


# Payments ------------------------------------------------------------------------------------------------------------
# Written by the payment services only: staff read them here; refunds go through the services (the actions below).
from django.contrib import messages  # noqa: E402
from djmoney.contrib.exchange.models import ExchangeBackend, Rate  # noqa: E402

from billing.models import (  # noqa: E402
    InvoiceDunning,
    PaymentAttempt,
    PaymentMethod,
    PaymentRefund,
    StripeCustomer,
    StripeEvent,
    StripeEventStatus,
)
from billing.payments.errors import PaymentRefused  # noqa: E402


@admin.register(PaymentMethod)
class PaymentMethodAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "kind", "client", "partner", "position", "exp_month", "exp_year", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["client", "partner"]
    search_fields = ["stripe_payment_method_id", "last4", "client__company_name", "partner__company_name"]


@admin.register(StripeCustomer)
class StripeCustomerAdmin(ReadOnlyAdmin):
    list_display = ["stripe_customer_id", "client", "partner", "created_at"]
    list_select_related = ["client", "partner"]
    search_fields = ["stripe_customer_id", "client__company_name", "partner__company_name"]


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at", "invoice", "purpose", "method_label", "amount", "currency", "status", "failure_message",
        "stripe_payment_intent_id",
    ]  # fmt: skip
    list_filter = ["status", "purpose", "method_kind", "currency"]
    list_select_related = ["invoice"]
    search_fields = ["idempotency_key", "stripe_payment_intent_id", "invoice__number"]
    date_hierarchy = "created_at"
    actions = ["refund_in_full"]

    @admin.action(description="Refund what is left of the selected payments")
    def refund_in_full(self, request, queryset):
        from billing.payments.refunds import payment_refund

        for attempt in queryset.select_related("invoice"):
            try:
                refund = payment_refund(
                    attempt=attempt, reason=f"Refunded in admin by {request.user}", user_id=request.user.pk
                )
            except PaymentRefused as refused:
                self.message_user(request, f"{attempt.invoice.number}: {refused}", messages.ERROR)
            else:
                self.message_user(request, f"{attempt.invoice.number}: refund {refund.amount} {refund.currency} "
                                  f"{refund.get_status_display().lower()}.")  # fmt: skip


@admin.register(PaymentRefund)
class PaymentRefundAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "attempt", "amount", "currency", "funds_amount", "source", "status", "reason"]
    list_filter = ["status", "source", "currency"]
    list_select_related = ["attempt__invoice"]
    search_fields = ["idempotency_key", "stripe_refund_id", "attempt__invoice__number"]
    date_hierarchy = "created_at"


@admin.register(InvoiceDunning)
class InvoiceDunningAdmin(ReadOnlyAdmin):
    list_display = ["invoice", "failed_at", "retries_done", "next_retry_at", "final_notice_at", "closed_at"]
    list_select_related = ["invoice"]
    search_fields = ["invoice__number"]


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "status", "deliveries", "received_at", "processed_at", "error"]
    list_filter = ["status", "type"]
    search_fields = ["id", "type"]
    date_hierarchy = "received_at"
    actions = ["process_again"]

    @admin.action(description="Process the selected failed events again")
    def process_again(self, request, queryset):
        from billing.payments.events import stripe_event_process

        for event in queryset.filter(status=StripeEventStatus.FAILED):
            try:
                event = stripe_event_process(event_id=event.pk)
            except Exception as error:  # noqa: BLE001 -- kept on the event and shown to staff
                self.message_user(request, f"{event.pk}: {error}", messages.ERROR)
            else:
                self.message_user(request, f"{event.pk}: {event.status}.")


# The BRL rates of PIX and Boleto vouchers, kept by staff in djmoney's Rate rows: djmoney's own admin shows the
# backend read-only, so a rate could not be added; this one lets staff pick the backend (staff-eur, staff-usd).
admin.site.unregister(Rate)


@admin.register(Rate)
class StaffRateAdmin(admin.ModelAdmin):
    list_display = ["backend", "base_currency", "currency", "value"]
    list_filter = ["backend"]
    fields = ["backend", "currency", "value"]

    @admin.display(description="1 unit of")
    def base_currency(self, rate):
        return rate.backend.base_currency

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "backend":
            kwargs["queryset"] = ExchangeBackend.objects.filter(name__startswith="staff-")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


import billing.admin_invoicing  # noqa: E402,F401 -- registers the invoice, credit note and restriction admins
