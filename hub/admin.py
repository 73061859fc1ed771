from django.contrib import admin

from billing.models import MessageUsage, RateCardRate
from hub.models import Hub, LicenseTier, PhoneNumber, Waba


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by services (imports, ingestion): staff read them, never edit them here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class WabaInline(admin.TabularInline):
    model = Waba
    extra = 0
    fields = ["meta_waba_id", "name", "timezone"]
    show_change_link = True


@admin.register(Hub)
class HubAdmin(admin.ModelAdmin):
    list_display = ["hub_id", "name", "client", "partner", "currency", "balance", "created_at"]
    list_filter = ["currency", "client__partner"]
    list_select_related = ["client__partner", "credit_account"]
    search_fields = ["hub_id", "name", "client__company_name", "wabas__meta_waba_id"]
    readonly_fields = ["hub_id", "currency", "created_at"]
    autocomplete_fields = ["client"]
    inlines = [WabaInline]

    @admin.display(ordering="client__partner__name")
    def partner(self, hub):
        return hub.client.partner

    @admin.display(ordering="credit_account__balance", description="credit balance")
    def balance(self, hub):
        return hub.credit_account.balance_money

    def has_add_permission(self, request):
        return False  # hubs are created with their credit account by billing.onboarding.hub_open (seed, onboarding)


class PhoneNumberInline(admin.TabularInline):
    model = PhoneNumber
    extra = 0
    fields = ["e164", "tier", "status", "onboarded_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Waba)
class WabaAdmin(admin.ModelAdmin):
    list_display = ["meta_waba_id", "name", "hub", "timezone", "created_at"]
    list_select_related = ["hub"]
    list_filter = ["timezone"]
    search_fields = ["meta_waba_id", "name", "hub__hub_id"]
    autocomplete_fields = ["hub"]
    inlines = [PhoneNumberInline]


@admin.register(LicenseTier)
class LicenseTierAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "monthly_fee"]


@admin.register(PhoneNumber)
class PhoneNumberAdmin(admin.ModelAdmin):
    list_display = [
        "e164",
        "display_name",
        "meta_phone_number_id",
        "waba",
        "hub",
        "tier",
        "status",
        "onboarded_at",
        "deletion_requested_at",
    ]
    list_filter = ["status", "tier", "onboarded_at"]
    list_select_related = ["waba__hub", "tier"]
    search_fields = ["e164", "display_name", "meta_phone_number_id", "waba__meta_waba_id", "waba__hub__hub_id"]
    date_hierarchy = "onboarded_at"
    autocomplete_fields = ["waba"]

    @admin.display(ordering="waba__hub__hub_id")
    def hub(self, number):
        return number.waba.hub.hub_id


@admin.register(RateCardRate)
class RateCardRateAdmin(ReadOnlyAdmin):
    list_display = ["effective_date", "currency", "market", "category", "rate", "source"]
    list_filter = ["effective_date", "currency", "category", "market"]
    search_fields = ["market"]


@admin.register(MessageUsage)
class MessageUsageAdmin(ReadOnlyAdmin):
    list_display = [
        "message_id",
        "hub",
        "waba",
        "phone_number",
        "category",
        "market",
        "pricing_type",
        "billable",
        "estimated",
        "unrated",
        "cost",
        "currency",
        "sent_at",
        "period",
    ]
    list_filter = ["period", "category", "pricing_type", "billable", "estimated", "unrated", "currency", "market"]
    list_select_related = ["hub", "waba", "phone_number"]
    search_fields = ["message_id", "hub__hub_id", "waba__meta_waba_id", "phone_number__e164"]
    date_hierarchy = "sent_at"
    show_full_result_count = False  # counting millions of rows on every page is slow
