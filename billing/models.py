from datetime import timedelta
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
    monthly_prepayment = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Amount of the Prepayment Invoice issued on the last day of each month (none when empty)."),
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

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="entries")
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


class PaymentMethodKind(models.TextChoices):
    CARD = "card", _("Credit/debit card")
    PIX = "pix", _("PIX")
    BOLETO = "boleto", _("Boleto")


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
            models.CheckConstraint(
                condition=models.Q(client__isnull=False, partner__isnull=True)
                | models.Q(client__isnull=True, partner__isnull=False),
                name="payment_method_one_party",
            ),
            models.CheckConstraint(condition=models.Q(kind__in=PaymentMethodKind.values), name="payment_method_kind"),
        ]

    def __str__(self) -> str:
        if self.kind == PaymentMethodKind.CARD:
            return f"{self.brand or 'Card'} •••• {self.last4}"
        return self.get_kind_display()


class InvoiceKind(models.TextChoices):
    LICENSE = "LICENSE", _("License Invoice")
    LICENSE_NEW_NUMBERS = "LICENSE_NEW_NUMBERS", _("License Invoice – New Numbers")
    PREPAYMENT = "PREPAYMENT", _("Prepayment Invoice for Usage Cost")
    MONTH_CLOSING = "MONTH_CLOSING", _("Month Closing Invoice")
    PARTNER_PLAN = "PARTNER_PLAN", _("Partner Plan Invoice")


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PENDING = "pending", _("Pending")
    UNPAID = "unpaid", _("Unpaid")
    PAID = "paid", _("Paid")
    VOID = "void", _("Void")


MONEY2 = {"max_digits": 14, "decimal_places": 2}
INVOICE_SUM = models.F("net_amount") + models.F("fee_amount") + models.F("tax_amount")


class InvoiceSequence(models.Model):
    """The last number given in a series (INV invoices, CN credit notes) and calendar year. Numbers are taken under
    this row's lock in the transaction that issues the document, so a rolled-back issue gives its numbers back:
    no gaps."""

    series = models.CharField(max_length=4)
    year = models.PositiveIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["series", "year"], name="sequence_series_year_unique")]

    def __str__(self) -> str:
        return f"{self.series}-{self.year}: {self.last_number}"


class Invoice(models.Model):
    """An invoice to a client's hub or to a partner. Once issued (it has a number) its figures, lines and billed
    company never change: the database refuses it. Corrections are credit notes or ledger entries."""

    number = models.CharField(max_length=20, unique=True, null=True, blank=True)
    kind = models.CharField(max_length=20, choices=InvoiceKind.choices)
    status = models.CharField(max_length=10, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT)
    party_key = models.CharField(max_length=40, help_text=_("hub:<id> or partner:<id>: who is billed."))
    hub = models.ForeignKey("hub.Hub", on_delete=models.PROTECT, null=True, blank=True, related_name="invoices")
    client = models.ForeignKey(
        "clients.Client", on_delete=models.PROTECT, null=True, blank=True, related_name="invoices"
    )
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, null=True, blank=True, related_name="invoices"
    )
    period_key = models.CharField(max_length=40, help_text=_("What makes the invoice unique for its party and kind."))
    period_start = models.DateField()
    period_end = models.DateField(help_text=_("Exclusive."))
    currency = models.CharField(max_length=3, choices=settings.CURRENCY_CHOICES)
    net_amount = models.DecimalField(**MONEY2)
    fee_amount = models.DecimalField(**MONEY2, default=Decimal(0))
    tax_rate = models.DecimalField(max_digits=5, decimal_places=4, default=Decimal(0))
    tax_amount = models.DecimalField(**MONEY2, default=Decimal(0))
    total = models.DecimalField(**MONEY2)
    tax_note = models.CharField(max_length=300, blank=True)
    pays_by_card = models.BooleanField(default=False)
    billed_company = models.JSONField(default=dict)
    summary = models.JSONField(default=dict, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True)
    pdf = models.FileField(upload_to="invoices/%Y/%m/", blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-issued_at", "-id"]
        indexes = [
            models.Index(fields=["hub", "kind", "period_start"]),
            models.Index(fields=["partner", "kind", "period_start"]),
            models.Index(fields=["status", "issued_at"]),
        ]
        constraints = [
            models.UniqueConstraint(fields=["party_key", "kind", "period_key"], name="invoice_one_per_party_period"),
            models.CheckConstraint(
                condition=models.Q(hub__isnull=False, client__isnull=False, partner__isnull=True)
                | models.Q(hub__isnull=True, client__isnull=True, partner__isnull=False),
                name="invoice_one_party",
            ),
            models.CheckConstraint(
                condition=models.Q(partner__isnull=True) | models.Q(kind="PARTNER_PLAN"),
                name="invoice_partner_only_plan",
            ),
            models.CheckConstraint(condition=models.Q(kind__in=InvoiceKind.values), name="invoice_kind_known"),
            models.CheckConstraint(condition=models.Q(status__in=InvoiceStatus.values), name="invoice_status_known"),
            models.CheckConstraint(
                condition=models.Q(status="draft") | models.Q(number__isnull=False, issued_at__isnull=False),
                name="invoice_issued_has_number",
            ),
            # total == net + fee + tax, written as a band narrower than a cent: SQLite evaluates the sum in binary
            # floating point; PostgreSQL's exact numerics still refuse any difference of a cent.
            models.CheckConstraint(
                condition=models.Q(total__gte=INVOICE_SUM - Decimal("0.001"), total__lte=INVOICE_SUM + Decimal("0.001")),
                name="invoice_total_adds_up",
            ),
            models.CheckConstraint(condition=models.Q(total__gte=0), name="invoice_total_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.number or 'draft'} {self.get_kind_display()}"

    @property
    def total_money(self) -> Money:
        return Money(self.total, self.currency)

    @property
    def period_last_day(self):
        """The billing period's last day (period_end is exclusive)."""
        return self.period_end - timedelta(days=1)


class InvoiceLine(models.Model):
    class Role(models.TextChoices):
        CHARGE = "charge", _("Charge")
        USAGE = "usage", _("WhatsApp usage costs")
        RECONCILIATION = "reconciliation", _("Usage reconciliation")
        SETTLED = "settled", _("Settled with credit balance")
        FEE = "fee", _("Transaction fee")
        TAX = "tax", _("Tax")

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveSmallIntegerField()
    role = models.CharField(max_length=20, choices=Role.choices)
    description = models.CharField(max_length=300)
    quantity = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal(1))
    unit_amount = models.DecimalField(max_digits=14, decimal_places=6)
    amount = models.DecimalField(**MONEY2)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["invoice", "position"]
        constraints = [models.UniqueConstraint(fields=["invoice", "position"], name="invoice_line_position_unique")]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount}"


class CreditNote(models.Model):
    """A correction of an issued invoice: a document of its own, numbered in the same gapless yearly sequence."""

    number = models.CharField(max_length=20, unique=True)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    amount = models.DecimalField(**MONEY2)
    currency = models.CharField(max_length=3, choices=settings.CURRENCY_CHOICES)
    reason = models.TextField()
    issued_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-issued_at"]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="credit_note_positive")]

    def __str__(self) -> str:
        return f"{self.number} for {self.invoice.number}"


class UsageReconciliation(models.Model):
    """Meta's reported cost for one WABA and day against what was rated; the adjustment posted so far."""

    waba = models.ForeignKey("hub.Waba", on_delete=models.PROTECT, related_name="reconciliations")
    day = models.DateField()
    currency = models.CharField(max_length=3, choices=settings.CURRENCY_CHOICES)
    meta_cost = models.DecimalField(max_digits=14, decimal_places=6)
    rated_cost = models.DecimalField(max_digits=14, decimal_places=6)
    adjustment = models.DecimalField(**MONEY2, help_text=_("Total RECONCILIATION posted for this WABA and day."))
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-day", "waba"]
        constraints = [models.UniqueConstraint(fields=["waba", "day"], name="reconciliation_one_per_waba_day")]

    def __str__(self) -> str:
        return f"{self.waba.meta_waba_id} {self.day}: {self.adjustment}"
