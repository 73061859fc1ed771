"""What staff watch the operation with: each billing day's run, and long staff jobs with their progress."""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class BillingRunSource(models.TextChoices):
    BEAT = "beat", _("Celery beat (fanned out to chunk tasks)")
    COMMAND = "command", _("manage.py billing_run")
    STAFF = "staff", _("Staff, from the admin")


class BillingRun(models.Model):
    """One run of a billing day: when it started and finished and what it expected to issue, by invoice kind.

    A run by beat fans out to chunk tasks: it records how many it queued (`chunks_total`) and each chunk counts
    itself done, so the run is finished when the last chunk is (`finished_at` is that chunk's end). A run from the
    command or the admin runs its steps in the process and finishes with its last step."""

    day = models.DateField()
    source = models.CharField(max_length=10, choices=BillingRunSource.choices)
    jobs = models.JSONField(default=list, help_text=_("The billing jobs due that day."))
    expected = models.JSONField(
        default=dict, encoder=DjangoJSONEncoder, help_text=_("Invoice kind → invoices the day's jobs should issue.")
    )
    issued = models.PositiveIntegerField(default=0, help_text=_("Invoices this run issued (not those of reruns)."))
    chunks_total = models.PositiveIntegerField(null=True, blank=True)
    chunks_done = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["day", "started_at"])]

    def __str__(self) -> str:
        return f"Billing run {self.day} ({self.source}, {self.started_at:%Y-%m-%d %H:%M})"

    @property
    def finished(self) -> bool:
        return self.finished_at is not None and (self.chunks_total is None or self.chunks_done >= self.chunks_total)

    @property
    def duration(self):
        return self.finished_at - self.started_at if self.finished else None


class StaffJobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class StaffJob(models.Model):
    """A long piece of staff work (a billing day, a reconciliation import, a journal export) run by a worker, with
    its progress written as it goes, so staff can leave its page and come back. `kind` names the runner in
    billing/staff_jobs.py; `params` are its inputs, `result` what it reports at the end, `output` a file it made."""

    kind = models.CharField(max_length=40)
    status = models.CharField(max_length=10, choices=StaffJobStatus.choices, default=StaffJobStatus.QUEUED)
    params = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    input_file = models.FileField(upload_to="staff_jobs/input/%Y/%m/", blank=True)
    progress = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(null=True, blank=True, help_text=_("Empty while the size is not known yet."))
    message = models.CharField(max_length=300, blank=True)
    result = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    output = models.FileField(upload_to="staff_jobs/output/%Y/%m/", blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=StaffJobStatus.values), name="staff_job_status_known"),
            models.CheckConstraint(
                condition=Q(total__isnull=True) | Q(progress__lte=models.F("total")), name="staff_job_progress_le_total"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    @property
    def done(self) -> bool:
        return self.status in (StaffJobStatus.SUCCEEDED, StaffJobStatus.FAILED)

    @property
    def percent(self) -> int | None:
        if not self.total:
            return 100 if self.done else None
        return min(100, self.progress * 100 // self.total)
