"""Admin for the operation: billing runs (read-only) and long staff jobs, with the pages that start a billing day or
a reconciliation import in the background and the status page that follows a job while it runs (polling a small
JSON view; a meta refresh without JavaScript). Staff may leave the page: the job goes on and its row keeps the
progress (admin: Staff jobs)."""

import uuid

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from billing.admin_forms import StaffActionForm, StaffActionsMixin
from billing.models import BillingRun, StaffJob
from billing.staff_actions import STAFF_ACTION_ERRORS
from billing.staff_jobs import RUNNERS, staff_job_start, staff_job_status
from hub.admin import ReadOnlyAdmin

MAX_UPLOAD = 50 * 1024 * 1024


class BillingDayForm(StaffActionForm):
    day = forms.DateField(label=_("Day"), help_text=_("YYYY-MM-DD: every billing job due that day, as beat runs it."))
    dry_run = forms.BooleanField(label=_("Dry run"), required=False,
                                 help_text=_("Compute everything and roll it back: nothing is issued."))  # fmt: skip


class ReconciliationImportForm(StaffActionForm):
    report_file = forms.FileField(
        label=_("Meta's daily cost report (CSV file)"),
        help_text=_("Header date,waba_id,currency,cost; checked whole before anything is posted."),
    )

    def clean_report_file(self):
        upload = self.cleaned_data["report_file"]
        if upload.size > MAX_UPLOAD:
            raise forms.ValidationError(_("The file is larger than 50 MB."))
        return upload


@admin.register(BillingRun)
class BillingRunAdmin(ReadOnlyAdmin):
    list_display = ["day", "source", "started_at", "finished_at", "duration", "issued", "chunks"]
    list_filter = ["source", "day"]
    date_hierarchy = "started_at"

    @admin.display(description=_("chunks done"))
    def chunks(self, run):
        return "–" if run.chunks_total is None else f"{run.chunks_done}/{run.chunks_total}"


@admin.register(StaffJob)
class StaffJobAdmin(StaffActionsMixin, ReadOnlyAdmin):
    list_display = ["id", "kind", "status", "progress_shown", "message", "created_by", "created_at", "finished_at",
                    "status_link"]  # fmt: skip
    list_filter = ["status", "kind"]
    search_fields = ["kind", "message", "error"]
    list_select_related = ["created_by"]
    date_hierarchy = "created_at"
    change_list_template = "admin/billing/staffjob_change_list.html"

    @admin.display(description=_("progress"))
    def progress_shown(self, job):
        return f"{job.progress}/{job.total}" if job.total is not None else str(job.progress)

    @admin.display(description=_("status page"))
    def status_link(self, job):
        return format_html('<a href="{}">{}</a>', reverse("admin:billing_staffjob_status", args=[job.pk]), _("Open"))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("billing-day/", view(self.billing_day_view), name="billing_staffjob_billing_day"),
            path("reconciliation-import/", view(self.reconciliation_view), name="billing_staffjob_reconciliation"),
            path("<int:job_id>/status/", view(self.status_view), name="billing_staffjob_status"),
            path("<int:job_id>/status.json", view(self.status_json_view), name="billing_staffjob_status_json"),
            *super().get_urls(),
        ]

    def _start_page(self, request, form_class, title, start):
        if not self.has_staff_action_permission(request):
            raise PermissionDenied
        if "apply" in request.POST:
            form = form_class(request.POST, request.FILES)
        else:
            form = form_class(initial={"token": uuid.uuid4().hex})
        if form.is_bound and form.is_valid():
            try:
                job = start(form)
            except STAFF_ACTION_ERRORS as refused:
                form.add_error(None, str(refused))
            else:
                return HttpResponseRedirect(reverse("admin:billing_staffjob_status", args=[job.pk]))
        context = {**self.admin_site.each_context(request), "title": title, "form": form, "opts": self.model._meta,
                   "multipart": True}  # fmt: skip
        return TemplateResponse(request, "admin/billing/staff_action.html", context)

    def billing_day_view(self, request):
        def start(form):
            data = form.cleaned_data
            return staff_job_start(
                user=request.user, kind="billing_day", params={"day": data["day"].isoformat(),
                "dry_run": data["dry_run"]}, reason=data["reason"], key=form.key(),
            )  # fmt: skip

        return self._start_page(request, BillingDayForm, _("Run a billing day"), start)

    def reconciliation_view(self, request):
        def start(form):
            upload = form.cleaned_data["report_file"]
            return staff_job_start(
                user=request.user, kind="reconciliation_import", params={"file": upload.name},
                reason=form.cleaned_data["reason"], key=form.key(), input_name=upload.name, input_bytes=upload.read(),
            )  # fmt: skip

        return self._start_page(request, ReconciliationImportForm, _("Import a reconciliation file"), start)

    def status_view(self, request, job_id: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(StaffJob.objects.select_related("created_by"), pk=job_id)
        context = {
            **self.admin_site.each_context(request), "title": str(RUNNERS[job.kind].label) if job.kind in RUNNERS
            else job.kind, "job": job, "status": staff_job_status(job=job), "opts": self.model._meta,
            "status_url": reverse("admin:billing_staffjob_status_json", args=[job.pk]),
        }  # fmt: skip
        return TemplateResponse(request, "admin/billing/staffjob_status.html", context)

    def status_json_view(self, request, job_id: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return JsonResponse(staff_job_status(job=get_object_or_404(StaffJob, pk=job_id)))
