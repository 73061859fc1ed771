"""Alerts sent ahead of trouble: card expiry reminders (each sent once), and partners' outbound webhooks (the
endpoints they register and every event delivered to them, with each attempt's answer)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class CardExpiryReminder(models.Model):
    """A reminder that a saved card expires soon, sent once per card and lead time (30 and 7 days)."""

    payment_method = models.ForeignKey("billing.PaymentMethod", on_delete=models.CASCADE, related_name="+")
    days_before = models.PositiveSmallIntegerField()
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["payment_method", "days_before"], name="card_expiry_reminder_once"),
        ]

    def __str__(self) -> str:
        return f"Card {self.payment_method_id} expiry reminder ({self.days_before} days)"


class WebhookEndpoint(models.Model):
    """An HTTPS URL that receives signed events. A partner's own (registered on its Webhooks page), or the
    platform's (partner empty, `name` names its entry in settings.OUTBOUND_WEBHOOKS)."""

    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.CASCADE, null=True, blank=True, related_name="webhook_endpoints"
    )
    name = models.SlugField(max_length=50, blank=True, help_text=_("The settings entry of a platform endpoint."))
    url = models.URLField(max_length=500)
    # Kept readable: the HMAC needs it on every delivery. Shown to the partner once, when created.
    secret = models.CharField(max_length=100, editable=False)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(partner__isnull=False) | ~Q(name=""), name="webhook_endpoint_owner"),
            models.UniqueConstraint(fields=["name"], condition=~Q(name=""), name="webhook_endpoint_name_unique"),
        ]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed (gave up)")


class WebhookDelivery(models.Model):
    """One event for one endpoint: its exact body (signed as is on every attempt) and how delivering it went."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=40, unique=True)
    event_type = models.CharField(max_length=50)
    body = models.TextField(help_text=_("The JSON body exactly as sent and signed."))
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    created_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} → {self.endpoint_id} ({self.status})"
