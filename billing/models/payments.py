"""Saved payment methods, the Stripe customers they hang on, payment attempts and refunds, dunning, and the Stripe
events received (each stored once)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class PaymentMethodKind(models.TextChoices):
    CARD = "card", _("Credit/debit card")
    PIX = "pix", _("PIX")
    BOLETO = "boleto", _("Boleto")


# What a payment may be taken in: the parties' currencies, and BRL for PIX and Boleto vouchers.
PAYMENT_CURRENCY_CHOICES = [*settings.CURRENCY_CHOICES, ("BRL", "Brazilian Real")]
PAYMENT_CURRENCIES = [code for code, _name in PAYMENT_CURRENCY_CHOICES]
ONE_PARTY = Q(client__isnull=False, partner__isnull=True) | Q(client__isnull=True, partner__isnull=False)


class PaymentMethod(models.Model):
    """A saved way to pay, in the party's order of preference (position 0 is charged first). Card details live at
    Stripe; only what identifies the card to its owner is kept here."""

    client = models.ForeignKey(
        "clients.Client", on_delete=models.CASCADE, null=True, blank=True, related_name="payment_methods"
    )
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.CASCADE, null=True, blank=True, related_name="payment_methods"
    )
    kind = models.CharField(max_length=10, choices=PaymentMethodKind.choices)
    position = models.PositiveSmallIntegerField(default=0)
    stripe_payment_method_id = models.CharField(max_length=100, blank=True)
    brand = models.CharField(max_length=20, blank=True)
    last4 = models.CharField(max_length=4, blank=True)
    exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["client", "partner", "position", "id"]
        constraints = [
            models.CheckConstraint(condition=ONE_PARTY, name="payment_method_one_party"),
            models.CheckConstraint(condition=models.Q(kind__in=PaymentMethodKind.values), name="payment_method_kind"),
            # A party saves a Stripe payment method once (the setup webhook and the page's confirmation may both
            # save it). Per party: the demo data shares Stripe's test tokens (pm_card_visa) between parties.
            models.UniqueConstraint(
                fields=["client", "stripe_payment_method_id"],
                condition=~Q(stripe_payment_method_id="") & Q(client__isnull=False),
                name="payment_method_client_stripe_id_unique",
            ),
            models.UniqueConstraint(
                fields=["partner", "stripe_payment_method_id"],
                condition=~Q(stripe_payment_method_id="") & Q(partner__isnull=False),
                name="payment_method_partner_stripe_id_unique",
            ),
        ]

    def __str__(self) -> str:
        if self.kind == PaymentMethodKind.CARD:
            return f"{self.brand or 'Card'} •••• {self.last4}"
        return self.get_kind_display()


class StripeCustomer(models.Model):
    """The Stripe customer of a client or partner: its saved cards are attached to it."""

    client = models.OneToOneField(
        "clients.Client", on_delete=models.CASCADE, null=True, blank=True, related_name="stripe_customer"
    )
    partner = models.OneToOneField(
        "partners.Partner", on_delete=models.CASCADE, null=True, blank=True, related_name="stripe_customer"
    )
    stripe_customer_id = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=ONE_PARTY, name="stripe_customer_one_party")]

    def __str__(self) -> str:
        return f"{self.stripe_customer_id} ({self.client or self.partner})"


class AttemptStatus(models.TextChoices):
    CREATED = "created", _("Created (Stripe not called yet, or no answer yet)")
    PROCESSING = "processing", _("Processing")
    REQUIRES_ACTION = "requires_action", _("Waiting for the payer (3-D Secure, voucher)")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


OPEN_ATTEMPT_STATUSES = (AttemptStatus.CREATED, AttemptStatus.PROCESSING, AttemptStatus.REQUIRES_ACTION)


class AttemptPurpose(models.TextChoices):
    AUTOMATIC = "automatic", _("Automatic charge")
    DUNNING = "dunning", _("Dunning retry")
    CARD_ADDED = "card_added", _("Retry with a new card")
    MANUAL = "manual", _("Manual payment")


class PaymentAttempt(models.Model):
    """One try to take an invoice's money with one payment method: one Stripe PaymentIntent, created with the
    attempt's idempotency key. The row is written before Stripe is called, so a crash at any point leaves a
    record to resume from; at most one attempt per invoice is open at a time (the database refuses a second)."""

    invoice = models.ForeignKey("billing.Invoice", on_delete=models.PROTECT, related_name="payment_attempts")
    payment_method = models.ForeignKey(
        PaymentMethod, on_delete=models.SET_NULL, null=True, blank=True, related_name="attempts"
    )
    method_kind = models.CharField(max_length=10, choices=PaymentMethodKind.choices)
    method_label = models.CharField(max_length=60, help_text=_("The method as the payer knows it (Visa •••• 4242)."))
    purpose = models.CharField(max_length=12, choices=AttemptPurpose.choices)
    round = models.CharField(max_length=40, help_text=_("The charge round (automatic, dunning step, …) it belongs to."))
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, choices=PAYMENT_CURRENCY_CHOICES)
    exchange_rate = models.DecimalField(
        max_digits=20, decimal_places=6, null=True, blank=True, help_text=_("Invoice currency → BRL (vouchers).")
    )
    waived_fee = models.DecimalField(
        max_digits=14, decimal_places=2, default=0, help_text=_("Card fee (with its tax) not charged to a voucher.")
    )
    idempotency_key = models.CharField(max_length=100, unique=True)
    stripe_payment_intent_id = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, choices=AttemptStatus.choices, default=AttemptStatus.CREATED)
    failure_code = models.CharField(max_length=100, blank=True)
    decline_code = models.CharField(max_length=100, blank=True)
    failure_message = models.TextField(blank=True)
    voucher = models.JSONField(default=dict, blank=True, help_text=_("PIX QR code or Boleto details to show."))
    voucher_expires_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text=_("A worker is talking to Stripe for this attempt until then.")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice"], condition=Q(status__in=OPEN_ATTEMPT_STATUSES), name="payment_attempt_one_open"
            ),
            models.UniqueConstraint(
                fields=["stripe_payment_intent_id"],
                condition=~Q(stripe_payment_intent_id=""),
                name="payment_attempt_intent_unique",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_attempt_amount_positive"),
            models.CheckConstraint(condition=Q(status__in=AttemptStatus.values), name="payment_attempt_status_known"),
            models.CheckConstraint(condition=Q(currency__in=PAYMENT_CURRENCIES), name="payment_attempt_currency"),
        ]

    def __str__(self) -> str:
        return f"{self.invoice.number} {self.amount} {self.currency} by {self.method_label} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_ATTEMPT_STATUSES


class RefundStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class RefundSource(models.TextChoices):
    STAFF = "staff", _("Staff refund of a payment")
    CREDIT = "credit", _("Remaining credit returned")
    DUPLICATE = "duplicate", _("Duplicate payment returned")
    STRIPE = "stripe", _("Refunded at Stripe")


class PaymentRefund(models.Model):
    """Money given back on a successful attempt. `funds_amount` is the credit-balance part (a PREPAYMENT's funds),
    taken off the balance as FUNDS_RETURNED when the refund is started and put back if Stripe refuses it."""

    attempt = models.ForeignKey(PaymentAttempt, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(max_digits=14, decimal_places=2, help_text=_("In the attempt's currency."))
    currency = models.CharField(max_length=3, choices=PAYMENT_CURRENCY_CHOICES)
    funds_amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    source = models.CharField(max_length=10, choices=RefundSource.choices)
    reason = models.TextField()
    idempotency_key = models.CharField(max_length=100, unique=True)
    stripe_refund_id = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=RefundStatus.choices, default=RefundStatus.PENDING)
    failure_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_refund_id"], condition=~Q(stripe_refund_id=""), name="payment_refund_stripe_unique"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_refund_amount_positive"),
            models.CheckConstraint(condition=Q(funds_amount__gte=0), name="payment_refund_funds_not_negative"),
            models.CheckConstraint(condition=Q(status__in=RefundStatus.values), name="payment_refund_status_known"),
        ]

    def __str__(self) -> str:
        return f"Refund {self.amount} {self.currency} of {self.attempt.invoice.number} ({self.status})"


class InvoiceDunning(models.Model):
    """The retry schedule of an invoice whose automatic charge failed (BILLING_DUNNING_DAYS after `failed_at`),
    separate from the suspension, which starts at once. Ends with a final notice, or when the invoice is paid."""

    invoice = models.OneToOneField("billing.Invoice", on_delete=models.PROTECT, related_name="dunning")
    failed_at = models.DateTimeField()
    retries_done = models.PositiveSmallIntegerField(default=0)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    last_failure = models.TextField(blank=True)
    final_notice_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True, help_text=_("Paid or voided: no more retries."))

    class Meta:
        ordering = ["next_retry_at"]
        indexes = [models.Index(fields=["next_retry_at"], condition=Q(closed_at__isnull=True), name="dunning_due")]

    def __str__(self) -> str:
        return f"Dunning of {self.invoice.number}: {self.retries_done} retries"


class StripeEventStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    PROCESSED = "processed", _("Processed")
    FAILED = "failed", _("Failed")
    REJECTED = "rejected", _("Rejected (not ours to apply)")


class StripeEvent(models.Model):
    """A webhook event, stored once by Stripe's event id with how its handling went. Stripe neither orders nor
    de-duplicates deliveries: a replay of a processed event is acknowledged and changes nothing. A rejected event
    named a payment it does not belong to (`error` says why); it changed nothing."""

    id = models.CharField(max_length=255, primary_key=True)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=StripeEventStatus.choices, default=StripeEventStatus.RECEIVED)
    error = models.TextField(blank=True)
    deliveries = models.PositiveIntegerField(default=1)
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=StripeEventStatus.values), name="stripe_event_status_known")
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.type} ({self.status})"
