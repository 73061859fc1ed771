from django.contrib import admin

from clients.models import Client, ClientMembership


class ClientMembershipInline(admin.TabularInline):
    model = ClientMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ["company_name", "partner", "country", "vat_id", "billing_email", "created_at"]
    list_filter = ["partner", "country"]
    list_select_related = ["partner"]
    search_fields = ["company_name", "billing_email", "vat_id", "hubs__hub_id"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["partner"]
    inlines = [ClientMembershipInline]


@admin.register(ClientMembership)
class ClientMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "client", "role"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email", "client__company_name"]
    autocomplete_fields = ["user", "client"]
