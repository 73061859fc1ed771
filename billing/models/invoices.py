"""Invoices, their lines and numbering, credit notes, usage reconciliation."""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from djmoney.money import Money


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
SUM_BAND = Decimal("0.001")


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
    # hub, partner and a line's invoice: no single-column index of their own, the composite indexes below (and the
    # lines' unique position) start with them; a month close inserts thousands of invoices and lines per chunk
    hub = models.ForeignKey(
        "hub.Hub", on_delete=models.PROTECT, null=True, blank=True, related_name="invoices", db_index=False
    )
    client = models.ForeignKey(
        "clients.Client", on_delete=models.PROTECT, null=True, blank=True, related_name="invoices"
    )
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, null=True, blank=True, related_name="invoices", db_index=False
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
    # Delivery (PDF + email to the billing email, billing/delivery.py): when the mail server accepted it, and the
    # last reason it did not, for staff (admin: Delivered yes/no).
    delivered_at = models.DateTimeField(null=True, blank=True)
    delivery_error = models.CharField(max_length=300, blank=True)
    # The language it was issued in (the party's invoice language then): its PDF and emails stay in it.
    language = models.CharField(max_length=10, choices=settings.LANGUAGES, default="en")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-issued_at", "-id"]
        indexes = [
            models.Index(fields=["hub", "kind", "period_start"]),
            models.Index(fields=["partner", "kind", "period_start"]),
            models.Index(fields=["status", "issued_at"]),
            # the delivery sweep's scan: issued invoices not delivered yet (a handful, whatever the table's size)
            models.Index(
                fields=["issued_at"],
                name="invoice_undelivered",
                condition=models.Q(delivered_at__isnull=True, number__isnull=False),
            ),  # fmt: skip
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
                condition=models.Q(
                    total__gte=INVOICE_SUM - Decimal("0.001"), total__lte=INVOICE_SUM + Decimal("0.001")
                ),
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

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines", db_index=False)
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


class ExchangeRate(models.Model):
    """A month's rate of a currency against the euro for the accountant's books (the journal's DATEV export
    books a USD document with its EUR equivalent): units of the currency per 1 EUR, as the BMF's monthly VAT
    conversion rates and the ECB quote it (USD 1.0850 means 1 EUR = 1.0850 USD). Entered by staff; once a month's
    journal was exported with it, changing it changes the next export only."""

    currency = models.CharField(_("currency"), max_length=3, choices=settings.CURRENCY_CHOICES)
    month = models.DateField(_("month"), help_text=_("The first day of the month the rate is for."))
    rate = models.DecimalField(
        _("rate"), max_digits=10, decimal_places=6, validators=[MinValueValidator(Decimal("0.000001"))],
        help_text=_("Units of the currency per 1 EUR, e.g. 1.085000."),
    )  # fmt: skip
    source = models.CharField(_("source"), max_length=100, blank=True,
                              help_text=_("Where the rate comes from, e.g. BMF monthly rate 11/2026."))  # fmt: skip

    class Meta:
        verbose_name = _("exchange rate")
        verbose_name_plural = _("exchange rates")
        ordering = ["-month", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["currency", "month"], name="exchange_rate_one_per_month"),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="exchange_rate_positive"),
            models.CheckConstraint(condition=~models.Q(currency="EUR"), name="exchange_rate_not_euro"),
        ]

    def __str__(self) -> str:
        return f"{self.currency} {self.month:%Y-%m}: {self.rate}"

    def clean(self):
        errors = {}
        if self.month and self.month.day != 1:
            errors["month"] = _("Give the first day of the month.")
        if self.currency == "EUR":
            errors["currency"] = _("The euro is the books' own currency: it needs no rate.")
        if errors:
            raise ValidationError(errors)
