"""Meta's per-message usage as rated here, and the rate card it is rated with."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from billing.markets import MARKETS


class Category(models.TextChoices):
    """Meta's per-message pricing categories."""

    MARKETING = "marketing", _("Marketing")
    MARKETING_LITE = "marketing_lite", _("Marketing lite")
    UTILITY = "utility", _("Utility")
    AUTHENTICATION = "authentication", _("Authentication")
    AUTHENTICATION_INTERNATIONAL = "authentication_international", _("Authentication (international)")
    SERVICE = "service", _("Service")
    REFERRAL_CONVERSION = "referral_conversion", _("Referral conversion")


class PricingType(models.TextChoices):
    """Meta's `pricing.type` of a message: only regular messages are charged."""

    REGULAR = "regular", _("Regular")
    FREE_CUSTOMER_SERVICE = "free_customer_service", _("Free (customer service window)")
    FREE_ENTRY_POINT = "free_entry_point", _("Free (entry point)")


# A category as Meta writes it in webhooks (`pricing.category`): what a rate card may carry for a category Meta has
# introduced before this portal knows it (loaded with `load_rate_card --new-category`).
CATEGORY_NAME = r"^[a-z][a-z0-9_]{0,39}$"


class RateCardRate(models.Model):
    """One Meta per-message rate: valid from its effective date until a later row for the same key. The category is
    one of Category's, or one Meta introduced that staff loaded explicitly (messages in it are then rated by it)."""

    effective_date = models.DateField()
    currency = models.CharField(max_length=3, choices=settings.CURRENCY_CHOICES)
    market = models.CharField(max_length=40)
    category = models.CharField(max_length=40)
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
            models.CheckConstraint(condition=models.Q(category__regex=CATEGORY_NAME), name="rate_category_name"),
        ]

    def __str__(self) -> str:
        return f"{self.effective_date} {self.currency} {self.market} {self.category} {self.rate}"


class MessageUsage(models.Model):
    """One message status event as Meta prices it, rated in the hub's currency.

    Billable messages with a cost are debited through one USAGE ledger entry per (hub, period, ingest batch);
    `ledger_entry` points at it, and the audit proves the entry equals the sum of its messages.
    """

    # Unique by a constraint, not `unique=True`: on PostgreSQL a unique CharField also gets a second index of its own
    # for LIKE prefix searches (varchar_pattern_ops), which nothing here runs. Meta's wamids are random, so every
    # insert lands on a random leaf of each message-id index; with the second one gone an event writes one such
    # entry, not two (bench/usage_ingest.py --random-ids: those indexes, 6.5 GB at 30M rows, are what slows
    # ingestion as the table grows).
    message_id = models.CharField(max_length=128)
    # hub and waba are copies of phone_number's WABA and hub, kept for the usage queries' indexes. They carry no
    # database foreign key or single-column index of their own: ingestion writes thousands of rows a second and
    # each FK check costs as much as the row itself. For the same reason phone_number and ledger_entry carry no
    # database foreign key either (their two checks at commit cost 40-65% of the row's insert, measured); the
    # batch reads the number and writes the entry in its own transaction, and `billing_audit` proves all four.
    hub = models.ForeignKey(
        "hub.Hub", on_delete=models.PROTECT, related_name="usage", db_index=False, db_constraint=False
    )
    waba = models.ForeignKey(
        "hub.Waba", on_delete=models.PROTECT, related_name="usage", db_index=False, db_constraint=False
    )
    phone_number = models.ForeignKey(
        "hub.PhoneNumber", on_delete=models.PROTECT, related_name="usage", db_constraint=False
    )
    recipient_country = models.CharField(max_length=2)
    market = models.CharField(max_length=40)
    category = models.CharField(max_length=40, choices=Category.choices)
    pricing_model = models.CharField(max_length=10, default="PMP")
    pricing_type = models.CharField(
        max_length=40, default=PricingType.REGULAR, help_text=_("Meta's pricing.type; only regular is charged.")
    )
    estimated = models.BooleanField(
        default=False,
        help_text=_("Rated without the recipient's country (Meta sent a user ID, no phone number): reconciliation "
                    "corrects it."),
    )  # fmt: skip
    unrated = models.BooleanField(
        default=False,
        help_text=_("A category Meta sent that the rate card has no rate for: held at zero cost for staff to rate."),
    )
    billable = models.BooleanField()
    sent_at = models.DateTimeField()
    rate_date = models.DateField(help_text=_("The day in the WABA's time zone whose rate applies."))
    rate = models.DecimalField(max_digits=12, decimal_places=6)
    cost = models.DecimalField(max_digits=12, decimal_places=6)
    currency = models.CharField(max_length=3, choices=settings.CURRENCY_CHOICES)
    period = models.DateField(help_text=_("First day of the billing month the cost counts in."))
    ledger_entry = models.ForeignKey(
        "billing.LedgerEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="messages",
        db_constraint=False,
    )
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["-sent_at"]
        verbose_name = "message usage"
        verbose_name_plural = "message usage"
        indexes = [
            models.Index(fields=["hub", "period"], name="usage_hub_period_idx"),
            models.Index(fields=["waba", "sent_at"], name="usage_waba_sent_at_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["message_id"], name="usage_message_id_unique"),
            models.CheckConstraint(condition=models.Q(cost__gte=0), name="usage_cost_not_negative"),
            models.CheckConstraint(
                condition=models.Q(billable=True) | models.Q(cost=0), name="usage_non_billable_costs_nothing"
            ),
            models.CheckConstraint(condition=models.Q(currency__in=settings.CURRENCIES), name="usage_currency_known"),
        ]

    def __str__(self) -> str:
        return self.message_id


class MetaWebhookSkip(models.Model):
    """Something a Meta webhook carried that was acknowledged (Meta retries any non-2xx for days) but not rated:
    kept with the reason so staff can see what was left out and act on it."""

    received_at = models.DateTimeField(db_index=True)
    waba_id = models.CharField(_("WABA ID"), max_length=64, blank=True)
    phone_number_id = models.CharField(_("phone number ID"), max_length=64, blank=True)
    field = models.CharField(max_length=64, blank=True, help_text=_("The change's field, e.g. messages."))
    message_id = models.CharField(max_length=128, blank=True)
    reason = models.CharField(max_length=300)
    payload = models.JSONField(help_text=_("The part of the webhook that was skipped, as Meta sent it."))

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("skipped Meta webhook item")
        verbose_name_plural = _("skipped Meta webhook items")

    def __str__(self) -> str:
        return f"{self.received_at:%Y-%m-%d %H:%M} {self.reason}"


class MetaWebhookInbox(models.Model):
    """A signed Meta webhook as received: the endpoint answers Meta at once and a burst of webhooks is rated in
    batches (billing.meta_webhooks_drain). processed_at is set in the transaction that records its usage, so a crash
    leaves it to the next drain; META_WEBHOOK_INBOX_RETENTION_DAYS after that, the nightly purge deletes it."""

    body = models.BinaryField(help_text=_("The raw body, exactly as signed by Meta."))
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["id"], name="meta_inbox_unprocessed", condition=models.Q(processed_at__isnull=True))
        ]
        verbose_name = _("received Meta webhook")
        verbose_name_plural = _("received Meta webhooks")

    def __str__(self) -> str:
        return f"{self.received_at:%Y-%m-%d %H:%M:%S} #{self.pk}"


TIERED_CATEGORIES = ("utility", "authentication")


class RateCardTier(models.Model):
    """One of Meta's volume tiers: from the message after `volume_from` charged messages in a month (per client ×
    market × category), until the next tier's `volume_from`, the rate is `rate`. Tiers of a key replace the card's
    flat rate from their effective date; each tier's rate applies only to the messages inside it."""

    effective_date = models.DateField()
    currency = models.CharField(max_length=3, choices=settings.CURRENCY_CHOICES)
    market = models.CharField(max_length=40)
    category = models.CharField(max_length=40, choices=Category.choices)
    volume_from = models.PositiveBigIntegerField(help_text=_("Charged messages in the month before this tier starts."))
    rate = models.DecimalField(max_digits=12, decimal_places=6, validators=[MinValueValidator(Decimal(0))])
    loaded_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-effective_date", "currency", "market", "category", "volume_from"]
        verbose_name = _("rate card volume tier")
        constraints = [
            models.UniqueConstraint(
                fields=["effective_date", "currency", "market", "category", "volume_from"], name="rate_tier_key_unique"
            ),
            models.CheckConstraint(condition=models.Q(rate__gte=0), name="rate_tier_not_negative"),
            models.CheckConstraint(condition=models.Q(market__in=sorted(MARKETS)), name="rate_tier_market_known"),
            models.CheckConstraint(
                condition=models.Q(category__in=TIERED_CATEGORIES), name="rate_tier_category_tiered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.effective_date} {self.currency} {self.market} {self.category} >{self.volume_from} {self.rate}"


class UsageVolumeCounter(models.Model):
    """Charged messages so far in a month (the WABA's calendar month) per client × market × category: the position
    volume tiers are priced by. Updated under its row lock in the ingesting batch's transaction."""

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="+")
    market = models.CharField(max_length=40)
    category = models.CharField(max_length=40)
    month = models.DateField()
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = _("usage volume counter")
        constraints = [
            models.UniqueConstraint(fields=["client", "market", "category", "month"], name="volume_counter_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.client_id} {self.market} {self.category} {self.month:%Y-%m}: {self.count}"


class MetaPricingPoint(models.Model):
    """Meta's cost for a WABA × day × category × country × pricing type, from its pricing analytics: the report
    beside what was rated here (the day's total is reconciled as a UsageReconciliation)."""

    waba = models.ForeignKey("hub.Waba", on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    category = models.CharField(max_length=40)
    country = models.CharField(max_length=2, blank=True)
    pricing_type = models.CharField(max_length=40, blank=True)
    volume = models.PositiveBigIntegerField()
    cost = models.DecimalField(max_digits=14, decimal_places=6)

    class Meta:
        ordering = ["-day", "waba", "category", "country"]
        verbose_name = _("Meta pricing analytics point")
        constraints = [
            models.UniqueConstraint(
                fields=["waba", "day", "category", "country", "pricing_type"], name="meta_pricing_point_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.category} {self.country} {self.cost}"


class RateCardAllowance(models.Model):
    """A monthly free allowance per phone number and category (Meta has announced free service messages per number
    per month): from its effective date, each number's first `free_per_month` charged messages of the category in a
    month (the WABA's calendar month) cost nothing. Off unless the card has a row; a later row of 0 turns it off."""

    effective_date = models.DateField()
    category = models.CharField(max_length=40, choices=Category.choices)
    free_per_month = models.PositiveIntegerField()
    loaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-effective_date", "category"]
        verbose_name = _("rate card free allowance")
        constraints = [
            models.UniqueConstraint(fields=["effective_date", "category"], name="rate_allowance_key_unique"),
            models.CheckConstraint(condition=models.Q(category__in=Category.values), name="rate_allowance_category"),
        ]

    def __str__(self) -> str:
        return f"{self.effective_date} {self.category}: {self.free_per_month} free per number and month"


class NumberAllowanceCounter(models.Model):
    """Free-allowance messages used so far by a number in a category and month; locked by the ingesting batch."""

    phone_number = models.ForeignKey("hub.PhoneNumber", on_delete=models.PROTECT, related_name="+")
    category = models.CharField(max_length=40)
    month = models.DateField()
    used = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("number allowance counter")
        constraints = [
            models.UniqueConstraint(fields=["phone_number", "category", "month"], name="allowance_counter_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.phone_number_id} {self.category} {self.month:%Y-%m}: {self.used}"
