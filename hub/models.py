import secrets
import zoneinfo
from functools import lru_cache

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

HUB_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud on the phone to support


def new_hub_id() -> str:
    return "HUB-" + "".join(secrets.choice(HUB_ID_ALPHABET) for _ in range(8))


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(_("%(value)s is not an IANA time zone."), params={"value": value}) from exc


@lru_cache(maxsize=65536)  # pure, and ingestion sees the same few numbers thousands of times
def e164_error(value: str) -> str | None:
    """Why `value` is not a possible E.164 phone number, or None."""
    if not isinstance(value, str) or not value.startswith("+"):
        return "phone number must be in E.164 format (+ and country code)"
    if len(value) > 16:
        return "phone number has more than the 15 digits E.164 allows"
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return "phone number must be in E.164 format (+ and country code)"
    if phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) != value:
        return "phone number must be in E.164 format without spaces"
    if not phonenumbers.is_possible_number(parsed):
        return "phone number is not a possible number"
    return None


def validate_e164(value: str) -> None:
    error = e164_error(value)
    if error:
        raise ValidationError(error[0].upper() + error[1:] + ".")


class Hub(models.Model):
    """A client's 360 Hub: the unit of the credit balance and of the Month Closing Invoice."""

    hub_id = models.CharField(_("Hub ID"), max_length=16, unique=True, default=new_hub_id, editable=False)
    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="hubs")
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3, choices=settings.CURRENCY_CHOICES, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["hub_id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(currency__in=settings.CURRENCIES), name="hub_currency_known"),
        ]

    def __str__(self) -> str:
        return f"{self.hub_id} ({self.name})"


class Waba(models.Model):
    """A WhatsApp Business Account connected to a hub. Its time zone decides which day's rate applies."""

    hub = models.ForeignKey(Hub, on_delete=models.PROTECT, related_name="wabas")
    meta_waba_id = models.CharField(
        _("WABA ID"),
        max_length=32,
        unique=True,
        validators=[RegexValidator(r"^\d{5,32}$", _("Digits only."))],
    )
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["meta_waba_id"]
        verbose_name = "WABA"
        verbose_name_plural = "WABAs"

    def __str__(self) -> str:
        return f"{self.name} ({self.meta_waba_id})"


class LicenseTier(models.Model):
    """A number's license tier: the same fee figure in the partner's currency (Regular 25, Premium 49)."""

    code = models.SlugField(max_length=20, unique=True)
    name = models.CharField(max_length=100)
    monthly_fee = models.DecimalField(max_digits=10, decimal_places=2, validators=[MinValueValidator(0)])

    class Meta:
        ordering = ["monthly_fee"]
        constraints = [
            models.CheckConstraint(condition=models.Q(monthly_fee__gte=0), name="tier_fee_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name


class PhoneNumber(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        PENDING_DELETION = "pending_deletion", _("Pending deletion")
        DELETED = "deleted", _("Deleted")

    waba = models.ForeignKey(Waba, on_delete=models.PROTECT, related_name="numbers")
    e164 = models.CharField(_("phone number"), max_length=16, validators=[validate_e164])
    display_name = models.CharField(max_length=200, blank=True)
    meta_phone_number_id = models.CharField(
        _("Meta phone number ID"),
        max_length=32,
        blank=True,
        validators=[RegexValidator(r"^[0-9]+$", _("Meta's phone number ID is a string of digits."))],
        help_text=_("The number's ID in WhatsApp Cloud API webhooks (metadata.phone_number_id)."),
    )
    tier = models.ForeignKey(LicenseTier, on_delete=models.PROTECT, related_name="numbers")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    onboarded_at = models.DateTimeField()
    deletion_requested_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    licensed_through = models.DateField(
        null=True,
        blank=True,
        editable=False,
        help_text=_("First day of the latest month this number's license is invoiced for (monthly or pro-rated)."),
    )

    class Meta:
        ordering = ["e164"]
        constraints = [
            # A number can come back after deletion, but only one live record of it exists at a time.
            models.UniqueConstraint(
                fields=["e164"], condition=~models.Q(status="deleted"), name="phone_number_live_unique"
            ),
            # Meta's webhooks name the number by this ID: one live number per ID, or usage could go to the wrong hub.
            models.UniqueConstraint(
                fields=["meta_phone_number_id"],
                condition=~models.Q(status="deleted") & ~models.Q(meta_phone_number_id=""),
                name="phone_meta_id_live_unique",
                violation_error_code="unique",  # shown on the field (admin, services' full_clean)
                violation_error_message=_("Another number already has this Meta phone number ID."),
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["active", "pending_deletion", "deleted"]),
                name="phone_status_known",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="deleted") | models.Q(deleted_at__isnull=False),
                name="phone_deleted_has_time",
            ),
        ]
        indexes = [models.Index(fields=["e164"]), models.Index(fields=["meta_phone_number_id"])]

    def __str__(self) -> str:
        return self.e164
