from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _

from billing import staff_actions
from billing.admin_forms import AdjustmentForm, ReconciliationForm, RefundForm, StaffActionsMixin
from billing.models import (
    AuditRun,
    CreditAccount,
    LedgerEntry,
    MetaPricingPoint,
    MetaWebhookSkip,
    NumberAllowanceCounter,
    RateCardAllowance,
    RateCardTier,
    StaffAction,
    UsageReconciliation,
    UsageVolumeCounter,
)
from billing.selectors.reconciliations import month_reconciliations, reconciled_days, reconciliation_month
from core import clock
from hub.admin import ReadOnlyAdmin


@admin.register(CreditAccount)
class CreditAccountAdmin(StaffActionsMixin, ReadOnlyAdmin):
    list_display = ["hub", "client", "currency", "balance", "closed_through", "updated_at"]
    list_filter = ["currency"]
    list_select_related = ["hub__client"]
    search_fields = ["hub__hub_id", "hub__client__company_name"]
    actions = ["adjust", "credit_refund"]

    @admin.display(ordering="hub__client__company_name")
    def client(self, account):
        return account.hub.client

    @admin.action(description=_("Post a manual adjustment…"), permissions=["staff_action"])
    def adjust(self, request, queryset):
        def perform(account, form):
            action = staff_actions.staff_ledger_adjust(
                user=request.user, account=account, amount=form.cleaned_data["amount"],
                reason=form.cleaned_data["reason"], key=form.key(account.pk),
            )  # fmt: skip
            return _("adjusted by %(amount)s %(currency)s.") % action.details

        return self.staff_action_page(
            request, queryset.select_related("hub"), form_class=AdjustmentForm, title=_("Manual adjustment"),
            perform=perform, single=True,
        )  # fmt: skip

    @admin.action(description=_("Return remaining credit to the client's card…"), permissions=["staff_action"])
    def credit_refund(self, request, queryset):
        def perform(account, form):
            action = staff_actions.staff_credit_refund(
                user=request.user, hub=account.hub, amount=form.cleaned_data["amount"],
                reason=form.cleaned_data["reason"], key=form.key(account.pk),
            )  # fmt: skip
            return _("%(amount)s %(currency)s of credit returned.") % action.details

        return self.staff_action_page(
            request, queryset.select_related("hub"), form_class=RefundForm, title=_("Return remaining credit"),
            perform=perform, single=True,
        )  # fmt: skip


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
class UsageReconciliationAdmin(StaffActionsMixin, ReadOnlyAdmin):
    """Meta's daily cost against the rated usage, and the adjustment posted so far (`manage.py reconcile_usage`, or
    "Post a reconciliation" here)."""

    list_display = ["waba", "day", "currency", "rated_cost", "meta_cost", "adjustment", "updated_at"]
    list_filter = ["day", "currency"]
    list_select_related = ["waba"]
    search_fields = ["waba__meta_waba_id"]
    date_hierarchy = "day"  # by month: the reconciliation report
    change_list_template = "admin/billing/usagereconciliation_change_list.html"

    def get_urls(self):
        view = self.admin_site.admin_view(self.post_view)
        report = self.admin_site.admin_view(self.report_view)
        return [
            path("post/", view, name="billing_usagereconciliation_post"),
            path("report/", report, name="billing_usagereconciliation_report"),
            *super().get_urls(),
        ]

    def report_view(self, request):
        """The month's WABA days, Meta's cost against our rating and the adjustment posted, each with its breakdown
        by category × country; `month=YYYY-MM` (default: this month), `q` a WABA id or Hub ID."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        month = reconciliation_month(request.GET.get("month"), default=clock.now().date().replace(day=1))
        rows = month_reconciliations(month=month)
        if query := request.GET.get("q", "").strip():
            rows = rows.filter(Q(waba__meta_waba_id=query) | Q(waba__hub__hub_id=query))
        page = Paginator(rows, 100).get_page(request.GET.get("page"))
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": _("Reconciliation report"),
            "month": month, "query": query, "page": page, "days": reconciled_days(list(page.object_list)),
        }  # fmt: skip
        return TemplateResponse(request, "admin/billing/usagereconciliation_report.html", context)

    def post_view(self, request):
        def perform(form):
            action = staff_actions.staff_usage_reconcile(
                user=request.user, lines=form.cleaned_data["report"].splitlines(), reason=form.cleaned_data["reason"],
                key=form.key(),
            )  # fmt: skip
            posted = [row for row in action.details["rows"] if row["posted"]]
            return _("Reconciled %(days)d WABA day(s); %(posted)d adjustment(s) posted.") % {
                "days": len(action.details["rows"]), "posted": len(posted),
            }  # fmt: skip

        return self.staff_view(request, form_class=ReconciliationForm, title=_("Post a reconciliation"),
                               perform=perform)  # fmt: skip


@admin.register(MetaWebhookSkip)
class MetaWebhookSkipAdmin(ReadOnlyAdmin):
    """What Meta's webhooks carried that was acknowledged but not rated, with the reason."""

    list_display = ["received_at", "reason", "waba_id", "phone_number_id", "field", "message_id"]
    list_filter = ["field", "received_at"]
    search_fields = ["reason", "waba_id", "phone_number_id", "message_id"]
    date_hierarchy = "received_at"
    show_full_result_count = False


@admin.register(MetaPricingPoint)
class MetaPricingPointAdmin(ReadOnlyAdmin):
    """Meta's pricing analytics per WABA × day × category × country × type (the day's total is reconciled)."""

    list_display = ["day", "waba", "category", "country", "pricing_type", "volume", "cost"]
    list_filter = ["day", "category", "pricing_type", "country"]
    list_select_related = ["waba"]
    search_fields = ["waba__meta_waba_id", "country"]
    date_hierarchy = "day"


@admin.register(RateCardAllowance)
class RateCardAllowanceAdmin(admin.ModelAdmin):
    """The card's monthly free allowances per number and category (none: off). Staff add a row per effective date;
    a row in use is not edited (add a later one, 0 to turn the allowance off)."""

    list_display = ["effective_date", "category", "free_per_month", "loaded_at"]
    list_filter = ["category"]
    search_fields = ["category"]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(NumberAllowanceCounter)
class NumberAllowanceCounterAdmin(ReadOnlyAdmin):
    list_display = ["month", "phone_number", "category", "used"]
    list_filter = ["month", "category"]
    list_select_related = ["phone_number"]
    search_fields = ["phone_number__e164"]


@admin.register(RateCardTier)
class RateCardTierAdmin(ReadOnlyAdmin):
    """Meta's volume tiers as loaded by load_volume_tiers."""

    list_display = ["effective_date", "currency", "market", "category", "volume_from", "rate", "source"]
    list_filter = ["effective_date", "currency", "category", "market"]
    search_fields = ["market", "source"]


@admin.register(UsageVolumeCounter)
class UsageVolumeCounterAdmin(ReadOnlyAdmin):
    """Charged messages per client × market × category × month: the position volume tiers price by."""

    list_display = ["month", "client", "market", "category", "count"]
    list_filter = ["month", "category", "market"]
    list_select_related = ["client"]
    search_fields = ["client__company_name", "market"]


@admin.register(StaffAction)
class StaffActionAdmin(ReadOnlyAdmin):
    """The staff audit log: who did what, to what, when and why. Append-only (the database refuses edits)."""

    list_display = ["created_at", "user", "action", "target_repr", "reason"]
    list_filter = ["action", ("user", admin.RelatedOnlyFieldListFilter), "created_at"]
    search_fields = ["reason", "target_repr", "user__username", "idempotency_key"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    readonly_fields = ["user", "created_at", "action", "target_type", "target_id", "target_repr", "reason", "details",
                       "idempotency_key"]  # fmt: skip


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
class PaymentAttemptAdmin(StaffActionsMixin, ReadOnlyAdmin):
    list_display = [
        "created_at", "invoice", "purpose", "method_label", "amount", "currency", "status", "failure_message",
        "stripe_payment_intent_id",
    ]  # fmt: skip
    list_filter = ["status", "purpose", "method_kind", "currency"]
    list_select_related = ["invoice"]
    search_fields = ["idempotency_key", "stripe_payment_intent_id", "invoice__number"]
    date_hierarchy = "created_at"
    actions = ["refund"]

    @admin.action(description=_("Refund the selected payment…"), permissions=["staff_action"])
    def refund(self, request, queryset):
        def perform(attempt, form):
            action = staff_actions.staff_payment_refund(
                user=request.user, attempt=attempt, amount=form.cleaned_data["amount"],
                reason=form.cleaned_data["reason"], key=form.key(attempt.pk),
            )  # fmt: skip
            status = PaymentRefund.objects.values_list("status", flat=True).get(pk=action.details["refund"])
            return _("refund %(amount)s %(currency)s %(status)s.") % (action.details | {"status": status})

        return self.staff_action_page(
            request, queryset.select_related("invoice"), form_class=RefundForm, title=_("Refund"), perform=perform,
            single=True,
        )  # fmt: skip


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
import billing.admin_operations  # noqa: E402,F401 -- registers the billing run and staff job admins
import billing.admin_webhooks  # noqa: E402,F401 -- registers the outbound webhook and card reminder admins
