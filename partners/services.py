"""Writes on partners: the plan (onboarding a client with its first hub is `billing.onboarding`)."""

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import transaction

from core import clock
from partners.models import Partner, Plan

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlanChange:
    partner: Partner
    previous: Plan
    plan: Plan
    applies_from: dt.date  # the 1st of the month whose Partner Plan invoice first bills the new plan


def plan_applies_from(moment: dt.datetime | None = None) -> dt.date:
    """A change made now shows on the invoice issued on the 1st of next month: that invoice bills the plan in
    force when it is issued, and this month's invoice is already issued."""
    return clock.next_month(clock.month_start(moment or clock.now()))


def partner_plan_change(*, partner: Partner, plan: Plan, changed_by_id: int | None = None) -> PlanChange:
    """Put the partner on `plan`. Partner Plan invoices snapshot the plan in force at issue on the 1st, so changing
    the partner's plan now is what makes it apply from next month's invoice; there is no schedule to keep."""
    with transaction.atomic():
        locked = Partner.objects.select_for_update().select_related("plan").get(pk=partner.pk)
        previous = locked.plan
        if previous.pk != plan.pk:
            locked.plan = plan
            locked.save(update_fields=["plan"])
            logger.info("partner %s plan %s -> %s by user %s", locked.pk, previous.code, plan.code, changed_by_id)
    return PlanChange(partner=locked, previous=previous, plan=plan, applies_from=plan_applies_from())


def risk_digest_set(*, user_id: int, wanted: bool) -> None:
    """A partner user turns the weekly clients-at-risk email on or off (for themselves only)."""
    from partners.models import PartnerMembership

    PartnerMembership.objects.filter(user_id=user_id).update(risk_digest=wanted)
