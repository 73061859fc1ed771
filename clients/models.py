from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.company import CompanyDetails, Role


class Client(CompanyDetails):
    """A company billed directly (Direct-Paid) under a partner. Its currency is its partner's."""

    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="clients")
    buyer_reference = models.CharField(
        _("buyer reference (Leitweg-ID)"),
        max_length=100,
        blank=True,
        help_text=_("Given by a public-sector buyer for its e-invoices (XRechnung), e.g. 04011000-1234512345-06."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["company_name"]

    def __str__(self) -> str:
        return self.company_name

    SNAPSHOT_FIELDS = (*CompanyDetails.SNAPSHOT_FIELDS, "buyer_reference")

    @property
    def currency(self) -> str:
        return self.partner.currency


class ClientMembership(models.Model):
    """A user of the Client Hub. A user belongs to exactly one client or one partner."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="client_membership")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)

    def __str__(self) -> str:
        return f"{self.user} @ {self.client} ({self.role})"

    def clean(self) -> None:
        if self.user_id and hasattr(self.user, "partner_membership"):
            raise ValidationError(_("This user already belongs to a partner; a user belongs to one party only."))
