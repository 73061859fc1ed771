"""Restrictions: what unpaid money blocks (Kill Bill style blocking states), with their history."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Blocks(models.TextChoices):
    OUTBOUND_MESSAGING = "OUTBOUND_MESSAGING", _("Outbound messaging")
    CLIENT_ONBOARDING = "CLIENT_ONBOARDING", _("Onboarding new clients")


class RestrictionReason(models.TextChoices):
    CREDIT_BALANCE_DEPLETED = "CREDIT_BALANCE_DEPLETED", _("Credit balance is 0.00 or below")
    LICENSE_UNPAID = "LICENSE_UNPAID", _("License invoice not paid upon receipt")
    PARTNER_PLAN_UNPAID = "PARTNER_PLAN_UNPAID", _("Partner Plan invoice not paid upon receipt")


BLOCKS_OF = {
    RestrictionReason.CREDIT_BALANCE_DEPLETED: Blocks.OUTBOUND_MESSAGING,
    RestrictionReason.LICENSE_UNPAID: Blocks.OUTBOUND_MESSAGING,
    RestrictionReason.PARTNER_PLAN_UNPAID: Blocks.CLIENT_ONBOARDING,
}


class Restriction(models.Model):
    """One block of one hub (outbound messaging) or partner (client onboarding), from start to lift. Active while
    lifted_at is empty; rows are kept after the lift as the history. Started and lifted automatically from the
    money events; staff may lift one by hand with a reason, which holds until `override_until`."""

    hub = models.ForeignKey("hub.Hub", on_delete=models.PROTECT, null=True, blank=True, related_name="restrictions")
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, null=True, blank=True, related_name="restrictions"
    )
    blocks = models.CharField(max_length=20, choices=Blocks.choices)
    reason = models.CharField(max_length=30, choices=RestrictionReason.choices)
    detail = models.CharField(max_length=300, blank=True, help_text=_("What caused it: the balance, the invoice."))
    started_at = models.DateTimeField()
    lifted_at = models.DateTimeField(null=True, blank=True)
    lift_reason = models.CharField(max_length=300, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    override_until = models.DateTimeField(
        null=True, blank=True, help_text=_("A hand lift holds until then, even if the cause remains.")
    )

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["hub"], condition=Q(lifted_at__isnull=True), name="restriction_active_hub"),
            models.Index(fields=["partner"], condition=Q(lifted_at__isnull=True), name="restriction_active_partner"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(hub__isnull=False, partner__isnull=True, blocks="OUTBOUND_MESSAGING")
                | Q(hub__isnull=True, partner__isnull=False, blocks="CLIENT_ONBOARDING"),
                name="restriction_subject_matches_block",
            ),
            models.UniqueConstraint(
                fields=["hub", "reason"], condition=Q(lifted_at__isnull=True, hub__isnull=False),
                name="restriction_one_active_per_hub_reason",
            ),
            models.UniqueConstraint(
                fields=["partner", "reason"], condition=Q(lifted_at__isnull=True, partner__isnull=False),
                name="restriction_one_active_per_partner_reason",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        subject = self.hub or self.partner
        state = "active" if self.lifted_at is None else f"lifted {self.lifted_at:%Y-%m-%d %H:%M}"
        return f"{subject}: {self.get_blocks_display()} blocked, {self.get_reason_display()} ({state})"

    @property
    def active(self) -> bool:
        return self.lifted_at is None


class SendPermissionUnpublished(models.Model):
    """A hub whose send permission changed and whose new answer may not be on the platform's stream yet: written
    in the change's own transaction (so it exists exactly when the change committed), removed by the publication
    that read the answer after it (billing.send_permission_stream), at the same `version`. A process that dies
    between the commit and the publication, or a Redis outage then, leaves the row, and beat's sweep publishes
    the hub's current answer (entries are whole answers: publishing twice is harmless)."""

    hub = models.OneToOneField("hub.Hub", on_delete=models.CASCADE, primary_key=True, related_name="+")
    version = models.BigIntegerField()  # a new random value per change: a publication removes only what it read
    changed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.hub_id}: unpublished since {self.changed_at:%Y-%m-%d %H:%M:%S}"
