"""Saved payment methods."""

from django.db import models
from django.utils.translation import gettext_lazy as _


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
