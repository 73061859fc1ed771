"""The staff audit log: every action staff take in the admin through a billing service, with who, when and why."""

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.functions import Length, Trim
from django.db.models.lookups import GreaterThan
from django.utils.translation import gettext_lazy as _


class StaffActionKind(models.TextChoices):
    INVOICES_ISSUE = "INVOICES_ISSUE", _("Issue invoices now")
    INVOICE_VOID = "INVOICE_VOID", _("Void an invoice")
    INVOICE_MARK_PAID = "INVOICE_MARK_PAID", _("Mark an invoice paid by bank transfer")
    INVOICE_EMAIL_RESEND = "INVOICE_EMAIL_RESEND", _("Resend an invoice email")
    INVOICE_PDF_REGENERATE = "INVOICE_PDF_REGENERATE", _("Regenerate an invoice PDF")
    PAYMENT_REFUND = "PAYMENT_REFUND", _("Refund a payment")
    CREDIT_REFUND = "CREDIT_REFUND", _("Return remaining credit")
    LEDGER_ADJUST = "LEDGER_ADJUST", _("Manual adjustment of a credit balance")
    USAGE_RECONCILE = "USAGE_RECONCILE", _("Post a usage reconciliation")
    RESTRICTION_LIFT = "RESTRICTION_LIFT", _("Lift a restriction")


class StaffAction(models.Model):
    """One action a staff member took through a billing service, written in the service's transaction. Append-only:
    the admin shows it read-only and PostgreSQL refuses updates and deletes (migration 0010). `idempotency_key`
    comes from the form that asked for the action, so a double submit acts once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="staff_actions")
    created_at = models.DateTimeField()
    action = models.CharField(max_length=30, choices=StaffActionKind.choices)
    target_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    target_id = models.CharField(max_length=40, blank=True)
    target_repr = models.CharField(_("target"), max_length=200, blank=True)
    reason = models.TextField()
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    idempotency_key = models.CharField(max_length=200, unique=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id"]),
            models.Index(fields=["action", "created_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=GreaterThan(Length(Trim("reason")), 0), name="staff_action_has_reason"),
            models.CheckConstraint(
                condition=models.Q(action__in=StaffActionKind.values), name="staff_action_kind_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.target_repr} by {self.user}"
