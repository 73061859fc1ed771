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
