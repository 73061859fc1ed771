from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class ApiKeyKind(models.TextChoices):
    CLIENT = "client", _("Client key")
    PARTNER = "partner", _("Partner key")
    SERVICE = "service", _("Messaging platform service key")


class ApiKey(models.Model):
    """A bearer key. Only its SHA-256 is stored: the key itself is shown once, when it is created.

    Keys are 256-bit random strings, so a fast hash is enough (nothing to brute-force) and lets a request find its
    key with one indexed lookup. A client or partner key sees its own party's data only; a service key (created by
    staff) is the messaging platform's and may only report usage and ask for send permission.
    """

    kind = models.CharField(max_length=10, choices=ApiKeyKind.choices)
    client = models.ForeignKey(
        "clients.Client", null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys"
    )
    partner = models.ForeignKey(
        "partners.Partner", null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("key prefix"), max_length=16, help_text=_("The first characters, to recognise a key."))
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                name="api_key_party_matches_kind",
                condition=(
                    Q(kind=ApiKeyKind.CLIENT, client__isnull=False, partner__isnull=True)
                    | Q(kind=ApiKeyKind.PARTNER, partner__isnull=False, client__isnull=True)
                    | Q(kind=ApiKeyKind.SERVICE, client__isnull=True, partner__isnull=True)
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotentRequest(models.Model):
    """A POST sent with an Idempotency-Key: the response it got, replayed when the same key comes again.

    Recorded before the work starts (response_status empty while it runs), so a second request with the same key
    arriving meanwhile is refused instead of moving money twice. `fingerprint` is the SHA-256 of the method, path
    and body: the same key with another request is an error, never a replay of something else.
    """

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="idempotent_requests")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="idempotent_request_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.response_status or 'in progress'})"
