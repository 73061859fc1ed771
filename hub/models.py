import secrets
import zoneinfo
from decimal import Decimal
from functools import lru_cache

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from hub.markets import MARKETS

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


class Category(models.TextChoices):
    """Meta's per-message pricing categories."""

    MARKETING = "marketing", _("Marketing")
    UTILITY = "utility", _("Utility")
    AUTHENTICATION = "authentication", _("Authentication")
    AUTHENTICATION_INTERNATIONAL = "authentication_international", _("Authentication (international)")
    SERVICE = "service", _("Service")


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
            models.CheckConstraint(
                condition=models.Q(status__in=["active", "pending_deletion", "deleted"]),
                name="phone_status_known",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="deleted") | models.Q(deleted_at__isnull=False),
                name="phone_deleted_has_time",
            ),
        ]
        indexes = [models.Index(fields=["e164"])]

    def __str__(self) -> str:
        return self.e164


class RateCardRate(models.Model):
    """One Meta per-message rate: valid from its effective date until a later row for the same key."""

    effective_date = models.DateField()
    currency = models.CharField(max_length=3, choices=settings.CURRENCY_CHOICES)
    market = models.CharField(max_length=40)
    category = models.CharField(max_length=40, choices=Category.choices)
    rate = models.DecimalField(max_digits=12, decimal_places=6, validators=[MinValueValidator(Decimal(0))])
    loaded_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=200, blank=True, help_text=_("File the rate was loaded from."))

    class Meta:
        ordering = ["-effective_date", "currency", "market", "category"]
        verbose_name = "rate card rate"
        constraints = [
            models.UniqueConstraint(
                fields=["effective_date", "currency", "market", "category"], name="rate_card_key_unique"
            ),
            models.CheckConstraint(condition=models.Q(rate__gte=0), name="rate_not_negative"),
            models.CheckConstraint(condition=models.Q(currency__in=settings.CURRENCIES), name="rate_currency_known"),
            models.CheckConstraint(condition=models.Q(market__in=sorted(MARKETS)), name="rate_market_known"),
            models.CheckConstraint(condition=models.Q(category__in=Category.values), name="rate_category_known"),
        ]

    def __str__(self) -> str:
        return f"{self.effective_date} {self.currency} {self.market} {self.category} {self.rate}"


class MessageUsage(models.Model):
    """One message status event as Meta prices it, rated in the hub's currency.

    Billable messages with a cost are debited through one USAGE ledger entry per (hub, period, ingest batch);
    `ledger_entry` points at it, and the audit proves the entry equals the sum of its messages.
    """

    message_id = models.CharField(max_length=128, unique=True)
    # hub and waba are copies of phone_number's WABA and hub, kept for the usage queries' indexes. They carry no
    # database foreign key or single-column index of their own: ingestion writes thousands of rows a second and
    # each FK check costs as much as the row itself. phone_number keeps its FK; `billing_audit` proves the copies.
    hub = models.ForeignKey(Hub, on_delete=models.PROTECT, related_name="usage", db_index=False, db_constraint=False)
    waba = models.ForeignKey(Waba, on_delete=models.PROTECT, related_name="usage", db_index=False, db_constraint=False)
    phone_number = models.ForeignKey(PhoneNumber, on_delete=models.PROTECT, related_name="usage")
    recipient_country = models.CharField(max_length=2)
    market = models.CharField(max_length=40)
    category = models.CharField(max_length=40, choices=Category.choices)
    pricing_model = models.CharField(max_length=10, default="PMP")
    billable = models.BooleanField()
    sent_at = models.DateTimeField()
    rate_date = models.DateField(help_text=_("The day in the WABA's time zone whose rate applies."))
    rate = models.DecimalField(max_digits=12, decimal_places=6)
    cost = models.DecimalField(max_digits=12, decimal_places=6)
    currency = models.CharField(max_length=3, choices=settings.CURRENCY_CHOICES)
    period = models.DateField(help_text=_("First day of the billing month the cost counts in."))
    ledger_entry = models.ForeignKey(
        "billing.LedgerEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="messages"
    )
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["-sent_at"]
        verbose_name = "message usage"
        verbose_name_plural = "message usage"
        indexes = [
            models.Index(fields=["hub", "period"]),
            models.Index(fields=["waba", "sent_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(cost__gte=0), name="usage_cost_not_negative"),
            models.CheckConstraint(
                condition=models.Q(billable=True) | models.Q(cost=0), name="usage_non_billable_costs_nothing"
            ),
            models.CheckConstraint(condition=models.Q(currency__in=settings.CURRENCIES), name="usage_currency_known"),
        ]

    def __str__(self) -> str:
        return self.message_id
