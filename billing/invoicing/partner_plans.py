"""Partner Plan invoices, on the 1st: the plan's fee in the partner's currency, one invoice per month. A missed
billing day is made up: each partner is billed for every month after its billed-through month
(`Partner.plan_billed_through`, Kill Bill's charged-through date)."""

import datetime as dt
from collections.abc import Sequence
from functools import partial

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext_noop

from billing import formats
from billing.invoicing.issue import Draft, DraftLine, Phrase, card_payers, company_of, invoices_issue
from billing.models import Invoice, InvoiceKind
from billing.sql import one_of
from core import clock
from partners.models import Partner


def plan_months_owed(*, billed_through: dt.date | None, until: dt.date) -> list[dt.date]:
    """Every month after the billed-through month up to `until`; only `until` for a partner never billed (billing
    starts at the first Partner Plan invoice that finds it)."""
    month, owed = (clock.next_month(billed_through) if billed_through else until), []
    while month <= until:
        owed.append(month)
        month = clock.next_month(month)
    return owed


def _draft(partner: Partner, month: dt.date, card: set) -> Draft:
    company, tax = company_of(partner)
    line = DraftLine(
        "charge",
        Phrase(gettext_noop("Partner Plan %(plan)s, %(month)s"),
               {"plan": partner.plan.name, "month": partial(formats.month, month)}),
        partner.plan.monthly_fee,
        details={"plan": partner.plan.code},
    )  # fmt: skip
    return Draft(
        kind=InvoiceKind.PARTNER_PLAN, party_key=f"partner:{partner.id}", period_key=f"{month:%Y-%m}",
        period_start=month, period_end=clock.next_month(month), currency=partner.currency, billed_company=company,
        tax=tax, pays_by_card=("partner", partner.id) in card, lines=[line], partner_id=partner.id,
        language=partner.billing_language,
    )  # fmt: skip


def partner_plan_issue(*, partner_ids: Sequence[int], month: dt.date, issued_at: dt.datetime) -> list[Invoice]:
    """Each partner's Partner Plan invoice for `month` and for every earlier month not billed yet. The plan in force
    when the invoice is issued applies: a change during the month shows on the next one. One invoice per partner and
    month is a database constraint, so two runs at once issue each once; the billed-through month only moves
    forward."""
    not_billed = Q(plan_billed_through__isnull=True) | Q(plan_billed_through__lt=month)
    with transaction.atomic():
        partners = list(Partner.objects.filter(one_of("id", partner_ids)).filter(not_billed).select_related("plan"))
        card = card_payers(partner_ids=[p.id for p in partners])
        drafts = [
            _draft(partner, owed, card)
            for partner in partners
            for owed in plan_months_owed(billed_through=partner.plan_billed_through, until=month)
        ]
        invoices = invoices_issue(drafts=drafts, issued_at=issued_at)
        Partner.objects.filter(one_of("id", [p.id for p in partners])).filter(not_billed).update(
            plan_billed_through=month
        )
    return invoices
