from django.contrib import admin

from partners.models import Partner, PartnerMembership, Plan


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "monthly_fee"]


class PartnerMembershipInline(admin.TabularInline):
    model = PartnerMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["name", "company_name", "country", "currency", "plan", "billing_email", "created_at"]
    list_filter = ["currency", "plan", "country"]
    search_fields = ["name", "company_name", "billing_email", "vat_id"]
    inlines = [PartnerMembershipInline]

    def get_readonly_fields(self, request, obj=None):
        # The currency is fixed at setup: every client, hub and ledger of the partner is in it. The billed-through
        # month is moved by the Partner Plan invoices only.
        return ["currency", "plan_billed_through", "created_at"] if obj else ["created_at"]


@admin.register(PartnerMembership)
class PartnerMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "partner", "role"]
    list_filter = ["role", "partner"]
    search_fields = ["user__username", "user__email", "partner__name"]
    autocomplete_fields = ["user", "partner"]
