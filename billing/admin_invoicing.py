"""Admin for invoices, credit notes and restrictions: staff read them here; issued invoices are read-only (the
database refuses edits anyway). Actions that call the services (void, credit, lift with a reason) come with the
staff issue."""

from django.contrib import admin
from django.utils.html import format_html

from billing.models import CreditNote, Invoice, InvoiceLine, InvoiceSequence, Restriction
from hub.admin import ReadOnlyAdmin


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    fields = ["position", "role", "description", "quantity", "unit_amount", "amount"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = ["number", "kind", "party", "period_key", "total", "currency", "status", "issued_at", "pdf_link"]
    list_filter = ["kind", "status", "currency", "period_start"]
    search_fields = ["number", "party_key", "billed_company__company_name", "hub__hub_id", "partner__name"]
    list_select_related = ["hub", "partner"]
    date_hierarchy = "issued_at"
    inlines = [InvoiceLineInline]
    show_full_result_count = False

    @admin.display(description="billed")
    def party(self, invoice):
        return invoice.billed_company.get("hub_id") or invoice.billed_company.get("company_name")

    @admin.display(description="PDF")
    def pdf_link(self, invoice):
        return format_html('<a href="{}">PDF</a>', invoice.pdf.url) if invoice.pdf else "–"

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff


@admin.register(CreditNote)
class CreditNoteAdmin(ReadOnlyAdmin):
    list_display = ["number", "invoice", "amount", "currency", "issued_at", "created_by"]
    search_fields = ["number", "invoice__number", "reason"]
    list_select_related = ["invoice", "created_by"]


@admin.register(InvoiceSequence)
class InvoiceSequenceAdmin(ReadOnlyAdmin):
    list_display = ["series", "year", "last_number"]


@admin.register(Restriction)
class RestrictionAdmin(ReadOnlyAdmin):
    list_display = ["subject", "blocks", "reason", "detail", "started_at", "lifted_at", "lift_reason", "lifted_by"]
    list_filter = ["blocks", "reason", ("lifted_at", admin.EmptyFieldListFilter)]
    search_fields = ["hub__hub_id", "partner__name", "detail", "lift_reason"]
    list_select_related = ["hub", "partner", "lifted_by"]
    date_hierarchy = "started_at"

    @admin.display(description="hub or partner")
    def subject(self, restriction):
        return restriction.hub or restriction.partner
