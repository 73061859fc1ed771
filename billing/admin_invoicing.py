"""Admin for invoices, credit notes and restrictions: staff read them here; issued invoices are read-only (the
database refuses edits anyway). Staff act on them through billing/staff_actions.py: issue now, void, mark paid by
bank transfer, resend the email, regenerate the PDF, lift a restriction, each with a reason kept in the audit log."""

import datetime as dt

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from billing import staff_actions
from billing.admin_forms import IssueNowForm, MarkPaidForm, RestrictionLiftForm, StaffActionForm, StaffActionsMixin
from billing.credit_note_pdf import credit_note_pdf_render
from billing.einvoice import credit_note_xml, einvoice_filename, invoice_xml
from billing.journal import JournalError, journal_export
from billing.models import CreditNote, ExchangeRate, Invoice, InvoiceLine, InvoiceSequence, Restriction
from hub.admin import ReadOnlyAdmin


class JournalExportForm(forms.Form):
    month = forms.CharField(label=_("Month"), help_text=_("YYYY-MM: the documents issued in that month (UTC)."))
    file_format = forms.ChoiceField(
        label=_("Format"), choices=[("csv", _("CSV (spreadsheet)")), ("datev", _("DATEV Buchungsstapel (EXTF)"))]
    )

    def clean_month(self) -> dt.date:
        try:
            return dt.datetime.strptime(self.cleaned_data["month"], "%Y-%m").date()  # noqa: DTZ007 (a calendar month)
        except ValueError as exc:
            raise forms.ValidationError(_("Enter a month as YYYY-MM, e.g. 2026-11.")) from exc


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    fields = ["position", "role", "description", "quantity", "unit_amount", "amount"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class DeliveredFilter(admin.SimpleListFilter):
    """Issued invoices whose email has (not) been accepted by the mail server yet (billing/delivery.py)."""

    title = _("delivered")
    parameter_name = "delivered"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(delivered_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(number__isnull=False, delivered_at__isnull=True)
        return queryset


@admin.register(Invoice)
class InvoiceAdmin(StaffActionsMixin, ReadOnlyAdmin):
    list_display = [
        "number", "kind", "party", "period_key", "total", "currency", "status", "issued_at", "delivered", "pdf_link",
        "xml_link",
    ]  # fmt: skip
    list_filter = ["kind", "status", DeliveredFilter, "currency", "period_start"]
    search_fields = ["number", "party_key", "billed_company__company_name", "hub__hub_id", "partner__name"]
    list_select_related = ["hub", "partner"]
    date_hierarchy = "issued_at"
    inlines = [InvoiceLineInline]
    show_full_result_count = False

    @admin.display(description="billed")
    def party(self, invoice):
        return invoice.billed_company.get("hub_id") or invoice.billed_company.get("company_name")

    @admin.display(description=_("delivered"), ordering="delivered_at")
    def delivered(self, invoice):
        """When the email was accepted; for an issued invoice not delivered yet, "No" and the last reason."""
        if invoice.delivered_at:
            return invoice.delivered_at  # the admin shows it in the staff's time zone
        if invoice.number is None:
            return "–"
        return format_html("<strong>{}</strong> {}", _("No"), invoice.delivery_error)

    @admin.display(description="PDF")
    def pdf_link(self, invoice):
        return format_html('<a href="{}">PDF</a>', invoice.pdf.url) if invoice.pdf else "–"

    @admin.display(description="e-invoice")
    def xml_link(self, invoice):
        if invoice.number is None:
            return "–"
        return format_html('<a href="{}">XML</a>', reverse("admin:billing_invoice_xml", args=[invoice.pk]))

    def xml_view(self, request, pk: int):
        """The invoice's EN 16931 XML (Factur-X), as embedded in its PDF."""
        invoice = get_object_or_404(Invoice.objects.exclude(number=None), pk=pk)
        if not self.has_view_permission(request, invoice):
            raise PermissionDenied
        response = HttpResponse(invoice_xml(invoice=invoice), content_type="application/xml")
        response["Content-Disposition"] = f'attachment; filename="{einvoice_filename(invoice.number, "factur-x")}"'
        return response

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff

    actions = ["void", "mark_paid", "email_resend", "pdf_regenerate"]
    change_list_template = "admin/billing/invoice_change_list.html"

    def get_urls(self):
        issue_now = self.admin_site.admin_view(self.issue_now_view)
        journal = self.admin_site.admin_view(self.journal_export_view)
        return [
            path("issue-now/", issue_now, name="billing_invoice_issue_now"),
            path("journal-export/", journal, name="billing_invoice_journal_export"),
            path("<int:pk>/xml/", self.admin_site.admin_view(self.xml_view), name="billing_invoice_xml"),
            *super().get_urls(),
        ]

    def journal_export_view(self, request):
        """The month's journal (CSV or DATEV) for the accountant: a download, nothing changes."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = JournalExportForm(request.GET or None)
        if form.is_valid():
            month, file_format = form.cleaned_data["month"], form.cleaned_data["file_format"]
            try:
                data = journal_export(month=month, file_format=file_format)
            except JournalError as exc:
                form.add_error(None, str(exc))
            else:
                charset = "utf-8" if file_format == "csv" else "windows-1252"
                response = HttpResponse(data, content_type=f"text/csv; charset={charset}")
                name = f"EXTF_Buchungsstapel_{month:%Y-%m}" if file_format == "datev" else f"journal-{month:%Y-%m}"
                response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
                return response
        context = {**self.admin_site.each_context(request), "title": _("Export the journal"), "form": form,
                   "opts": self.model._meta}  # fmt: skip
        return TemplateResponse(request, "admin/billing/journal_export.html", context)

    def issue_now_view(self, request):
        def perform(form):
            data = form.cleaned_data
            action = staff_actions.staff_invoices_issue(
                user=request.user, kind=data["kind"], month=data["month"], hub=data["hub"], partner=data["partner"],
                reason=data["reason"], key=form.key(),
            )  # fmt: skip
            numbers = ", ".join(invoice["invoice"] for invoice in action.details["invoices"])
            return _("Issued %(numbers)s.") % {"numbers": numbers}

        return self.staff_view(request, form_class=IssueNowForm, title=_("Issue now"), perform=perform)

    @admin.action(description=_("Void the selected invoices…"), permissions=["staff_action"])
    def void(self, request, queryset):
        def perform(invoice, form):
            staff_actions.staff_invoice_void(
                user=request.user, invoice=invoice, reason=form.cleaned_data["reason"], key=form.key(invoice.pk)
            )
            return _("voided.")

        return self.staff_action_page(request, queryset, form_class=StaffActionForm, title=_("Void"), perform=perform)

    @admin.action(description=_("Mark the selected invoice paid by bank transfer…"), permissions=["staff_action"])
    def mark_paid(self, request, queryset):
        def perform(invoice, form):
            staff_actions.staff_invoice_mark_paid(
                user=request.user, invoice=invoice, reference=form.cleaned_data["reference"],
                reason=form.cleaned_data["reason"], key=form.key(invoice.pk),
            )  # fmt: skip
            return _("marked paid by bank transfer.")

        return self.staff_action_page(
            request, queryset, form_class=MarkPaidForm, title=_("Mark paid by bank transfer"), perform=perform,
            single=True,
        )  # fmt: skip

    @admin.action(description=_("Resend the invoice email…"), permissions=["staff_action"])
    def email_resend(self, request, queryset):
        def perform(invoice, form):
            action = staff_actions.staff_invoice_email_resend(
                user=request.user, invoice=invoice, reason=form.cleaned_data["reason"], key=form.key(invoice.pk)
            )
            return _("emailed to %(to)s.") % {"to": action.details["to"]}

        return self.staff_action_page(
            request, queryset.exclude(number=None), form_class=StaffActionForm, title=_("Resend the email"),
            perform=perform,
        )  # fmt: skip

    @admin.action(description=_("Regenerate the PDF…"), permissions=["staff_action"])
    def pdf_regenerate(self, request, queryset):
        def perform(invoice, form):
            staff_actions.staff_invoice_pdf_regenerate(
                user=request.user, invoice=invoice, reason=form.cleaned_data["reason"], key=form.key(invoice.pk)
            )
            return _("PDF regenerated.")

        return self.staff_action_page(
            request, queryset, form_class=StaffActionForm, title=_("Regenerate the PDF"), perform=perform
        )


@admin.register(CreditNote)
class CreditNoteAdmin(ReadOnlyAdmin):
    list_display = ["number", "invoice", "amount", "currency", "issued_at", "created_by", "files"]
    search_fields = ["number", "invoice__number", "reason"]
    list_select_related = ["invoice", "created_by"]

    @admin.display(description="files")
    def files(self, note):
        return format_html(
            '<a href="{}">PDF</a> · <a href="{}">XML</a>',
            reverse("admin:billing_creditnote_file", args=[note.pk, "pdf"]),
            reverse("admin:billing_creditnote_file", args=[note.pk, "xml"]),
        )

    def get_urls(self):
        view = self.admin_site.admin_view(self.file_view)
        return [path("<int:pk>/file/<str:kind>/", view, name="billing_creditnote_file"), *super().get_urls()]

    def file_view(self, request, pk: int, kind: str):
        """The credit note's PDF/A-3 (with its XML inside) or its EN 16931 XML alone."""
        note = get_object_or_404(CreditNote.objects.select_related("invoice"), pk=pk)
        if not self.has_view_permission(request, note) or kind not in ("pdf", "xml"):
            raise PermissionDenied
        if kind == "pdf":
            response = HttpResponse(credit_note_pdf_render(credit_note=note), content_type="application/pdf")
        else:
            response = HttpResponse(credit_note_xml(credit_note=note), content_type="application/xml")
        filename = f"{note.number}.pdf" if kind == "pdf" else einvoice_filename(note.number, "factur-x")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


@admin.register(InvoiceSequence)
class InvoiceSequenceAdmin(ReadOnlyAdmin):
    list_display = ["series", "year", "last_number"]


@admin.register(Restriction)
class RestrictionAdmin(StaffActionsMixin, ReadOnlyAdmin):
    list_display = ["subject", "blocks", "reason", "detail", "started_at", "lifted_at", "lift_reason", "lifted_by"]
    list_filter = ["blocks", "reason", ("lifted_at", admin.EmptyFieldListFilter)]
    search_fields = ["hub__hub_id", "partner__name", "detail", "lift_reason"]
    list_select_related = ["hub", "partner", "lifted_by"]
    date_hierarchy = "started_at"

    @admin.display(description="hub or partner")
    def subject(self, restriction):
        return restriction.hub or restriction.partner

    actions = ["lift"]

    @admin.action(description=_("Lift the selected restrictions…"), permissions=["staff_action"])
    def lift(self, request, queryset):
        def perform(restriction, form):
            action = staff_actions.staff_restriction_lift(
                user=request.user, restriction=restriction, reason=form.cleaned_data["reason"],
                hold_until=form.cleaned_data["hold_until"], key=form.key(restriction.pk),
            )  # fmt: skip
            return _("lifted until %(until)s.") % {"until": action.details["hold_until"]}

        return self.staff_action_page(
            request, queryset, form_class=RestrictionLiftForm, title=_("Lift with a reason"), perform=perform
        )


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
    """The monthly rates the journal's DATEV export books foreign-currency documents with."""

    list_display = ["month", "currency", "rate", "source"]
    list_filter = ["currency"]
    search_fields = ["source"]
    date_hierarchy = "month"
