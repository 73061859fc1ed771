"""Staff read the partners' webhook endpoints (never their secrets) and every delivery with its answers."""

from django.contrib import admin

from billing.models import CardExpiryReminder, WebhookDelivery, WebhookEndpoint
from hub.admin import ReadOnlyAdmin


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["url", "partner", "name", "active", "created_at"]
    list_filter = ["active"]
    list_select_related = ["partner"]
    search_fields = ["url", "partner__name", "name"]
    exclude = ["secret"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "event_type", "endpoint", "status", "attempts", "last_status_code", "created_at",
                    "next_attempt_at"]  # fmt: skip
    list_filter = ["status", "event_type"]
    list_select_related = ["endpoint"]
    search_fields = ["event_id", "endpoint__url", "endpoint__partner__name"]


@admin.register(CardExpiryReminder)
class CardExpiryReminderAdmin(ReadOnlyAdmin):
    list_display = ["payment_method", "days_before", "sent_at"]
