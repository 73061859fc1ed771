from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.company import CompanyDetails, Role


class Plan(models.Model):
    """A Partner Plan: the same fee figure in whichever currency the partner is set up in (€500 / $500)."""

    code = models.SlugField(max_length=20, unique=True)
    name = models.CharField(max_length=100)
    monthly_fee = models.DecimalField(max_digits=10, decimal_places=2, validators=[MinValueValidator(0)])

    class Meta:
        ordering = ["monthly_fee"]
        constraints = [
            models.CheckConstraint(condition=models.Q(monthly_fee__gte=0), name="plan_fee_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name


class Partner(CompanyDetails):
    """A reseller on a Direct-Paid Partner Plan. Its currency is fixed at setup and is its clients' currency."""

    name = models.CharField(_("display name"), max_length=200)
    currency = models.CharField(max_length=3, choices=settings.CURRENCY_CHOICES)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="partners")
    plan_billed_through = models.DateField(
        null=True,
        blank=True,
        editable=False,
        help_text=_("First day of the latest month a Partner Plan invoice bills this partner for."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(currency__in=settings.CURRENCIES), name="partner_currency_known"),
        ]

    def __str__(self) -> str:
        return self.name


class PartnerMembership(models.Model):
    """A user of the Partner Hub. A user belongs to exactly one client or one partner."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="partner_membership")
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    risk_digest = models.BooleanField(
        _("weekly clients-at-risk email"),
        default=True,
        help_text=_("Every Monday, an email listing the clients at risk of having their service paused."),
    )

    def __str__(self) -> str:
        return f"{self.user} @ {self.partner} ({self.role})"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.user_id and hasattr(self.user, "client_membership"):
            raise ValidationError(_("This user already belongs to a client; a user belongs to one party only."))
