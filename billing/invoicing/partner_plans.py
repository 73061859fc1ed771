"""Partner Plan invoices, on the 1st: the plan's fee in the partner's currency."""

import datetime as dt
from collections.abc import Sequence
from functools import partial

from django.utils.translation import gettext_noop

from billing import clock, formats
from billing.invoicing.issue import Draft, DraftLine, Phrase, card_payers, company_of, invoices_issue
from billing.models import Invoice, InvoiceKind
from billing.sql import one_of
from partners.models import Partner


def partner_plan_issue(*, partner_ids: Sequence[int], month: dt.date, issued_at: dt.datetime) -> list[Invoice]:
    """The plan in force when the invoice is issued applies: a change during the month shows on the next one."""
    partners = list(Partner.objects.filter(one_of("id", partner_ids)).select_related("plan"))
    card = card_payers(partner_ids=[p.id for p in partners])
    drafts = []
    for partner in partners:
        company, tax = company_of(partner)
        line = DraftLine(
            "charge",
            Phrase(gettext_noop("Partner Plan %(plan)s, %(month)s"),
                   {"plan": partner.plan.name, "month": partial(formats.month, month)}),
            partner.plan.monthly_fee,
            details={"plan": partner.plan.code},
        )  # fmt: skip
        drafts.append(
            Draft(
                kind=InvoiceKind.PARTNER_PLAN,
                party_key=f"partner:{partner.id}",
                period_key=f"{month:%Y-%m}",
                period_start=month,
                period_end=clock.next_month(month),
                currency=partner.currency,
                billed_company=company,
                tax=tax,
                pays_by_card=("partner", partner.id) in card,
                lines=[line],
                partner_id=partner.id,
                language=partner.billing_language,
            )  # fmt: skip
        )
    return invoices_issue(drafts=drafts, issued_at=issued_at)
