"""License invoices: the monthly License Invoice (1st of the month) and the pro-rated License Invoice – New Numbers
(a number onboarded after the 1st)."""

import calendar
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from functools import partial

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext_noop

from billing import clock, formats
from billing.invoicing.issue import Draft, DraftLine, Phrase, card_payers, company_of, invoices_issue
from billing.models import Invoice, InvoiceKind
from billing.money import cents
from billing.queue import enqueue_on_commit
from billing.sql import one_of
from hub.models import Hub, LicenseTier, PhoneNumber

LIVE = (PhoneNumber.Status.ACTIVE, PhoneNumber.Status.PENDING_DELETION)


def numbers_deletion_finalize(*, month: dt.date) -> int:
    """Numbers whose deletion was requested before `month` are deleted as it starts (they are not licensed for
    it). Returns how many."""
    start, _ = clock.period_bounds(month)
    return PhoneNumber.objects.filter(
        status=PhoneNumber.Status.PENDING_DELETION, deletion_requested_at__lt=start
    ).update(status=PhoneNumber.Status.DELETED, deleted_at=start)


def _hubs(hub_ids: Sequence[int]) -> dict[int, Hub]:
    return {h.id: h for h in Hub.objects.filter(one_of("id", hub_ids)).select_related("client")}


def _hub_draft(hub: Hub, kind: str, period_key: str, start: dt.date, end: dt.date, lines, card: set) -> Draft:
    company, tax = company_of(hub.client)
    return Draft(
        kind=kind, party_key=f"hub:{hub.id}", period_key=period_key, period_start=start, period_end=end,
        currency=hub.currency, billed_company={**company, "hub_id": hub.hub_id}, tax=tax,
        pays_by_card=("client", hub.client_id) in card, lines=lines, hub_id=hub.id, client_id=hub.client_id,
        language=hub.client.billing_language,
    )  # fmt: skip


def _not_licensed_for(month: dt.date) -> Q:
    return Q(licensed_through__isnull=True) | Q(licensed_through__lt=month)


def _mark_licensed(invoices: list[Invoice], numbers_by_hub: dict[int, list[int]], month: dt.date) -> None:
    """The numbers on the invoices just issued are licensed for `month` (in the same transaction), so no later job
    bills them for it again."""
    ids = [number_id for invoice in invoices for number_id in numbers_by_hub[invoice.hub_id]]
    PhoneNumber.objects.filter(one_of("id", ids)).update(licensed_through=month)


def license_issue(*, hub_ids: Sequence[int], month: dt.date, issued_at: dt.datetime) -> list[Invoice]:
    """Each hub's License Invoice for `month`: every active or pending-deletion number onboarded by the time the
    invoice is issued (so a number onboarded on the 1st before the run is billed here, in full, and never
    pro-rated), at its tier's monthly fee. A number onboarded on the 1st after the run is picked up by the
    new-numbers sweep the next day, pro-rated over the whole month."""
    tiers = {tier.id: tier for tier in LicenseTier.objects.all()}
    with transaction.atomic():
        # Locked in primary-key order (see _locked), read as plain values: a chunk bills thousands of numbers.
        numbers = list(
            PhoneNumber.objects.filter(
                _not_licensed_for(month), one_of("waba__hub__id", hub_ids), status__in=LIVE, onboarded_at__lte=issued_at
            )
            .select_for_update(of=("self",))
            .order_by("id")
            .values_list("id", "e164", "waba__hub_id", "tier_id")
        )
        by_hub, ids_by_hub = defaultdict(list), defaultdict(list)
        label = partial(formats.month, month)
        for number_id, e164, hub_id, tier_id in sorted(numbers, key=lambda n: (n[2], n[1])):
            tier = tiers[tier_id]
            ids_by_hub[hub_id].append(number_id)
            by_hub[hub_id].append(
                DraftLine(
                    "charge",
                    Phrase(
                        gettext_noop("License %(number)s (%(tier)s), %(month)s"),
                        {"number": e164, "tier": tier.name, "month": label},
                    ),
                    tier.monthly_fee,
                    details={"number": e164, "tier": tier.code},
                )  # fmt: skip
            )
        hubs = _hubs(list(by_hub))
        card = card_payers(client_ids=[h.client_id for h in hubs.values()])
        end = clock.next_month(month)
        drafts = [
            _hub_draft(hubs[hub_id], InvoiceKind.LICENSE, f"{month:%Y-%m}", month, end, lines, card)
            for hub_id, lines in by_hub.items()
        ]
        invoices = invoices_issue(drafts=drafts, issued_at=issued_at)
        _mark_licensed(invoices, ids_by_hub, month)
    return invoices


def _locked(numbers) -> list[PhoneNumber]:
    """The numbers, locked in primary-key order until commit, so two jobs (the License Invoice, the new-numbers
    sweep, an onboarding task, a retried task) never both bill one: the second reads licensed_through as the first
    committed it. Lock order: numbers, then the invoice number sequence."""
    return list(numbers.select_related("tier", "waba").select_for_update(of=("self",)).order_by("id"))


def prorated_fee(*, monthly_fee: Decimal, onboarded_on: dt.date) -> Decimal:
    """fee × (days from the onboarding day, inclusive, to month end) ÷ days in month, half-up to cents."""
    days_in_month = calendar.monthrange(onboarded_on.year, onboarded_on.month)[1]
    days = days_in_month - onboarded_on.day + 1
    return cents(monthly_fee * days / days_in_month)


def new_numbers_issue(*, day: dt.date, issued_at: dt.datetime, hub_ids: Sequence[int] | None = None) -> list[Invoice]:
    """License Invoice – New Numbers for the numbers onboarded on `day` (UTC) that no invoice licenses for its month
    yet (the task queued at onboarding)."""
    start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
    return _new_numbers_issue(start=start, end=start + dt.timedelta(days=1), issued_at=issued_at, hub_ids=hub_ids)


def new_numbers_sweep(*, day: dt.date, issued_at: dt.datetime) -> list[Invoice]:
    """The daily sweep behind the onboarding task: every number onboarded since the start of last month that no
    invoice licenses for its onboarding month. On the 1st it stops before that day: the day's License Invoice
    covers numbers onboarded before it runs (the 2nd's sweep, those after); run before the License Invoices of a
    1st, it pro-rates a number onboarded late on the last day of the month before for that month."""
    previous = clock.month_start(day.replace(day=1) - dt.timedelta(days=1))
    end = day if day.day == 1 else day + dt.timedelta(days=1)
    start, _ = clock.period_bounds(previous)
    return _new_numbers_issue(
        start=start, end=dt.datetime.combine(end, dt.time.min, tzinfo=dt.UTC), issued_at=issued_at, hub_ids=None
    )


def _new_numbers_issue(*, start, end, issued_at, hub_ids) -> list[Invoice]:
    """One invoice per hub and onboarding day, a pro-rated line per number; a number is licensed once per month.
    A second batch of the same hub and day (onboarded after the day's invoice was issued) gets its own invoice."""
    with transaction.atomic():
        numbers = PhoneNumber.objects.filter(onboarded_at__gte=start, onboarded_at__lt=end, onboarded_at__lte=issued_at)
        if hub_ids is not None:
            numbers = numbers.filter(one_of("waba__hub__id", hub_ids))
        groups: dict[tuple[int, dt.date], list[PhoneNumber]] = defaultdict(list)
        for number in sorted(_locked(numbers), key=lambda n: (n.waba.hub_id, n.onboarded_at, n.e164)):
            day = number.onboarded_at.astimezone(dt.UTC).date()
            if number.licensed_through is None or number.licensed_through < clock.month_start(day):
                groups[(number.waba.hub_id, day)].append(number)
        if not groups:
            return []
        drafts, numbers_by_draft = _new_number_drafts(groups)
        invoices = invoices_issue(drafts=drafts, issued_at=issued_at)
        for invoice in invoices:
            members = numbers_by_draft[(invoice.party_key, invoice.period_key)]
            PhoneNumber.objects.filter(one_of("id", [n.id for n in members])).update(
                licensed_through=invoice.period_start.replace(day=1)
            )
    return invoices


def _new_number_drafts(groups) -> tuple[list[Draft], dict]:
    hubs = _hubs(list({hub_id for hub_id, _ in groups}))
    card = card_payers(client_ids=[h.client_id for h in hubs.values()])
    taken = _period_keys_taken(hubs, {day for _, day in groups})
    drafts, numbers_by_draft = [], {}
    for (hub_id, day), members in groups.items():
        key = _free_period_key(day, taken.get(hub_id, set()))
        end_of_month = clock.next_month(clock.month_start(day))
        lines = [_prorated_line(number, day) for number in members]
        drafts.append(_hub_draft(hubs[hub_id], InvoiceKind.LICENSE_NEW_NUMBERS, key, day, end_of_month, lines, card))
        numbers_by_draft[(f"hub:{hub_id}", key)] = members
    return drafts, numbers_by_draft


def _prorated_line(number: PhoneNumber, day: dt.date) -> DraftLine:
    days_in_month = calendar.monthrange(day.year, day.month)[1]
    days = days_in_month - day.day + 1
    return DraftLine(
        "charge",
        Phrase(
            gettext_noop("License %(number)s (%(tier)s), %(day)s – month end (%(days)s/%(days_in_month)s days of "
                         "%(fee)s)"),
            {"number": number.e164, "tier": number.tier.name, "day": partial(formats.day_month, day),
             "days": days, "days_in_month": days_in_month, "fee": partial(formats.decimal, number.tier.monthly_fee)},
        ),
        prorated_fee(monthly_fee=number.tier.monthly_fee, onboarded_on=day),
        details={"number": number.e164, "tier": number.tier.code, "days": days},
    )  # fmt: skip


def _period_keys_taken(hubs: dict, days: set[dt.date]) -> dict[int, set[str]]:
    rows = Invoice.objects.filter(
        one_of("hub__id", list(hubs)), kind=InvoiceKind.LICENSE_NEW_NUMBERS, period_start__in=days
    ).values_list("hub_id", "period_key")
    taken: dict[int, set[str]] = defaultdict(set)
    for hub_id, key in rows:
        taken[hub_id].add(key)
    return taken


def _free_period_key(day: dt.date, taken: set[str]) -> str:
    """The day (`2026-11-15`), or `2026-11-15#2`, #3… when that day's invoice was already issued."""
    key, n = day.isoformat(), 1
    while key in taken:
        n += 1
        key = f"{day.isoformat()}#{n}"
    return key


def new_numbers_on_onboard(*, number: PhoneNumber) -> None:
    """Queue the pro-rated invoice for a number just onboarded (after the transaction commits)."""
    day = number.onboarded_at.astimezone(dt.UTC).date()
    if day.day == 1:
        return  # the 1st's License Invoice (or, after it was issued, the next day's sweep) bills it in full
    enqueue_on_commit("billing.new_numbers", day.isoformat(), [number.waba.hub_id])
