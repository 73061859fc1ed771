"""The credit ledger: one credit account per hub and its immutable entries; the audit runs."""

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from djmoney.money import Money

AMOUNT = {"max_digits": 18, "decimal_places": 6}


class CreditAccount(models.Model):
    """A hub's Credit Balance. `balance` caches the sum of its entries and is only written by the ledger service,
    under a row lock, in the transaction that posts the entry (`manage.py billing_audit` proves it)."""

    hub = models.OneToOneField("hub.Hub", on_delete=models.PROTECT, related_name="credit_account")
    currency = models.CharField(max_length=3, choices=settings.CURRENCY_CHOICES, editable=False)
    balance = models.DecimalField(**AMOUNT, default=Decimal(0), editable=False)
    entry_count = models.PositiveBigIntegerField(
        default=0, editable=False, help_text=_("Number of entries posted; the last entry's sequence number.")
    )
    auto_renew = models.BooleanField(
        default=True, help_text=_("Top up automatically when the balance falls below the threshold.")
    )
    auto_renew_threshold = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("10.00"))
    auto_renew_amount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("50.00"))
    monthly_prepayment = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Amount of the Prepayment Invoice issued on the last day of each month (none when empty)."),
    )
    low_balance_alert = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Email the billing address when the balance falls below this amount (off when empty)."),
    )
    run_out_alert = models.BooleanField(
        default=True, help_text=_("Email the billing address when the balance reaches 0.00 and messaging pauses.")
    )
    closed_through = models.DateField(
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "Start of the latest billing month whose Month Closing Invoice is issued; later entries "
            "for that month roll into the next one."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(currency__in=settings.CURRENCIES), name="account_currency_known"),
        ]

    def __str__(self) -> str:
        return f"Credit account of {self.hub.hub_id}"

    @property
    def balance_money(self) -> Money:
        return Money(self.balance, self.currency)


class EntryKind(models.TextChoices):
    FUNDS_ADDED = "FUNDS_ADDED", _("Funds added")
    USAGE = "USAGE", _("Usage")
    REFUND = "REFUND", _("Refund")
    RECONCILIATION = "RECONCILIATION", _("Usage reconciliation")
    ROUNDING = "ROUNDING", _("Rounding")
    MCI_INVOICED = "MCI_INVOICED", _("Invoiced on Month Closing Invoice")
    FUNDS_RETURNED = "FUNDS_RETURNED", _("Funds returned")
    MANUAL_ADJUSTMENT = "MANUAL_ADJUSTMENT", _("Manual adjustment")


# The sign each kind must carry; kinds not listed may go either way.
POSITIVE_KINDS = (EntryKind.FUNDS_ADDED, EntryKind.REFUND, EntryKind.MCI_INVOICED)
NEGATIVE_KINDS = (EntryKind.USAGE, EntryKind.FUNDS_RETURNED)


class LedgerEntry(models.Model):
    """An immutable movement on a credit account. Never updated or deleted (the database refuses it);
    corrections are new entries."""

    # no single-column index: the (account, period, kind) index and the unique (account, sequence) start with it
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="entries", db_index=False)
    kind = models.CharField(max_length=20, choices=EntryKind.choices)
    amount = models.DecimalField(**AMOUNT)
    currency = models.CharField(max_length=3, choices=settings.CURRENCY_CHOICES)
    sequence = models.PositiveBigIntegerField(
        help_text=_("Position in its account's ledger (1, 2, 3, …), given under the account's lock.")
    )
    balance_after = models.DecimalField(**AMOUNT)
    period = models.DateField(help_text=_("First day of the billing month this entry counts in."))
    occurred_at = models.DateTimeField(help_text=_("When the underlying event happened."))
    posted_at = models.DateTimeField()
    idempotency_key = models.CharField(max_length=200, unique=True)
    reference = models.CharField(max_length=200, blank=True)
    memo = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["account", "sequence"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["account", "period", "kind"])]
        constraints = [
            models.UniqueConstraint(fields=["account", "sequence"], name="entry_sequence_unique"),
            models.CheckConstraint(condition=~models.Q(amount=0), name="entry_amount_not_zero"),
            models.CheckConstraint(condition=models.Q(currency__in=settings.CURRENCIES), name="entry_currency_known"),
            models.CheckConstraint(condition=models.Q(kind__in=EntryKind.values), name="entry_kind_known"),
            models.CheckConstraint(condition=models.Q(period__day=1), name="entry_period_is_month_start"),
            models.CheckConstraint(
                condition=~models.Q(kind__in=POSITIVE_KINDS) | models.Q(amount__gt=0),
                name="entry_kind_positive",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind__in=NEGATIVE_KINDS) | models.Q(amount__lt=0),
                name="entry_kind_negative",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="MANUAL_ADJUSTMENT") | ~models.Q(memo=""),
                name="entry_adjustment_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.currency} ({self.idempotency_key})"

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)

    @property
    def rolled_forward(self) -> bool:
        """Its event's month was already closed, so it counts in a later billing month."""
        return self.period != self.occurred_at.astimezone(dt.UTC).date().replace(day=1)


class AuditRun(models.Model):
    """One run of the ledger audit (nightly by beat, or `manage.py billing_audit`), kept so staff can see when
    the books were last proven and what was wrong."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    accounts = models.PositiveIntegerField()
    violations = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        state = "clean" if not self.violations else f"{len(self.violations)} violation(s)"
        return f"Audit {self.started_at:%Y-%m-%d %H:%M} ({state})"

    @property
    def clean(self) -> bool:
        return not self.violations
