"""License invoices: the monthly License Invoice (1st of the month) and the pro-rated License Invoice – New Numbers
(a number onboarded after the 1st)."""

import calendar
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from functools import partial

from django.db import connection, transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Q
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from billing import formats
from billing.invoicing.issue import (
    CARD_FEE_RATE,
    INVOICE_COLUMNS,
    LINE_COLUMNS,
    Draft,
    DraftLine,
    IssuedInvoices,
    Phrase,
    card_payers,
    company_of,
    invoices_insert_issued,
    invoices_issue,
)
from billing.invoicing.tax import tax_treatment
from billing.models import Invoice, InvoiceKind, InvoiceLine
from billing.money import cents
from billing.queue import enqueue_on_commit
from billing.sql import copy_rows, ids_reserve, one_of
from clients.models import Client
from core import clock
from hub.models import Hub, LicenseTier, PhoneNumber

LIVE = (PhoneNumber.Status.ACTIVE, PhoneNumber.Status.PENDING_DELETION)


def numbers_deletion_finalize(*, month: dt.date) -> int:
    """Numbers whose deletion was requested before `month` are deleted. Each deletion takes effect at the start of
    the month after its request (the number is not licensed for that month), also when this runs later than that,
    after a missed billing day. Returns how many."""
    start, _ = clock.period_bounds(month)
    pending = PhoneNumber.objects.filter(status=PhoneNumber.Status.PENDING_DELETION, deletion_requested_at__lt=start)
    deleted = 0
    for requested in pending.datetimes("deletion_requested_at", "month", tzinfo=dt.UTC):
        effective, _ = clock.period_bounds(clock.next_month(clock.month_start(requested)))
        deleted += pending.filter(deletion_requested_at__lt=effective).update(
            status=PhoneNumber.Status.DELETED, deleted_at=effective
        )
    return deleted


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


def _may_owe_a_month() -> Q:
    """Live numbers, and deleted ones whose deletion took effect at least a month after their billed-through month
    (deletions take effect at a month's start, so `deleted_at` > billed-through + 31 days means a month in between was
    left unbilled by a missed billing day)."""
    billed_through_plus_a_month = ExpressionWrapper(
        F("licensed_through") + dt.timedelta(days=31), output_field=DateTimeField()
    )
    return Q(status__in=LIVE) | Q(
        status=PhoneNumber.Status.DELETED, licensed_through__isnull=False, deleted_at__gt=billed_through_plus_a_month
    )


def months_owed(
    *,
    licensed_through: dt.date | None,
    until: dt.date,
    deletion_requested_at: dt.datetime | None,
    deleted_at: dt.datetime | None,
) -> list[dt.date]:
    """The months a number's License Invoice is due for, up to `until`: every month after its billed-through month
    (Kill Bill's charged-through date), so a missed billing day is made up; only `until` for a number never billed
    (billing starts at the first License Invoice that finds it). A month is owed while the number is live at its
    start: its deletion not requested before it (DESIGN: a deletion takes effect as the next month starts)."""
    month = clock.next_month(licensed_through) if licensed_through else until
    owed = []
    while month <= until:
        start, _ = clock.period_bounds(month)
        if (deletion_requested_at is None or deletion_requested_at >= start) and (
            deleted_at is None or deleted_at > start
        ):
            owed.append(month)
        month = clock.next_month(month)
    return owed


def _mark_licensed(issued: list[tuple[str, str, dt.date]], numbers_by_draft: dict[tuple[str, str], list[int]]) -> None:
    """The numbers on the invoices just issued ((party key, period key, period start) each) are licensed through
    the latest month billed (in the same transaction), so no later job bills them for it again."""
    through: dict[int, dt.date] = {}
    for party_key, period_key, period_start in issued:
        for number_id in numbers_by_draft[(party_key, period_key)]:
            through[number_id] = max(through.get(number_id, period_start), period_start)
    by_month: dict[dt.date, list[int]] = defaultdict(list)
    for number_id, month in through.items():
        by_month[month].append(number_id)
    for month, ids in by_month.items():
        PhoneNumber.objects.filter(one_of("id", ids)).update(licensed_through=month)


def license_issue(*, hub_ids: Sequence[int], month: dt.date, issued_at: dt.datetime) -> Sequence[Invoice]:
    """Each hub's License Invoice for `month`, and for every earlier month a missed billing day left unbilled (one
    invoice per month, see `months_owed`): every active or pending-deletion number onboarded by the time the invoice
    is issued (so a number onboarded on the 1st before the run is billed here, in full, and never pro-rated), at its
    tier's monthly fee. A number onboarded on the 1st after the run is picked up by the new-numbers sweep the next
    day, pro-rated over the whole month."""
    tiers = {tier.id: tier for tier in LicenseTier.objects.all()}
    with transaction.atomic():
        # Locked in primary-key order (see _locked), read as plain values: a chunk bills thousands of numbers.
        numbers = list(
            PhoneNumber.objects.filter(
                _not_licensed_for(month), _may_owe_a_month(), one_of("waba__hub__id", hub_ids),
                onboarded_at__lte=issued_at,
            )
            .select_for_update(of=("self",))
            .order_by("id")
            .values_list("id", "e164", "waba__hub_id", "tier_id", "licensed_through", "deletion_requested_at",
                         "deleted_at")
        )  # fmt: skip
        issue = license_issue_rows if connection.vendor == "postgresql" else license_issue_drafts
        invoices, issued, ids_by_draft = issue(numbers=numbers, month=month, tiers=tiers, issued_at=issued_at)
        _mark_licensed(issued, ids_by_draft)
    return invoices


def license_issue_drafts(*, numbers: list[tuple], month: dt.date, tiers: dict, issued_at: dt.datetime):
    """The License Invoices of locked numbers through drafts and `invoices_issue`: the portable path (SQLite). On
    PostgreSQL `license_issue_rows` writes the same; a test proves it."""
    drafts, ids_by_draft = _license_drafts(numbers, month, tiers)
    invoices = invoices_issue(drafts=drafts, issued_at=issued_at)
    return invoices, [(i.party_key, i.period_key, i.period_start) for i in invoices], ids_by_draft


def _owed_lines(numbers: list[tuple], month: dt.date, tiers: dict) -> tuple[dict, dict]:
    """Per (hub, month owed): its numbers' (E.164, tier), by E.164; and the number ids on each invoice."""
    lines_by_draft, ids_by_draft = defaultdict(list), defaultdict(list)
    for number_id, e164, hub_id, tier_id, through, requested, deleted in sorted(numbers, key=lambda n: n[1]):
        owed = months_owed(licensed_through=through, until=month, deletion_requested_at=requested, deleted_at=deleted)
        for owed_month in owed:
            ids_by_draft[(f"hub:{hub_id}", f"{owed_month:%Y-%m}")].append(number_id)
            lines_by_draft[(hub_id, owed_month)].append((e164, tiers[tier_id]))
    return lines_by_draft, ids_by_draft


def _license_drafts(numbers: list[tuple], month: dt.date, tiers: dict) -> tuple[list[Draft], dict]:
    """One draft per hub and month owed, a line per number (by E.164); and the number ids on each draft."""
    owed_lines, ids_by_draft = _owed_lines(numbers, month, tiers)
    lines_by_draft = {
        (hub_id, owed_month): [
            DraftLine(
                "charge",
                Phrase(LICENSE_LINE, {"number": e164, "tier": tier.name, "month": partial(formats.month, owed_month)}),
                tier.monthly_fee,
                details={"number": e164, "tier": tier.code},
            )
            for e164, tier in members
        ]
        for (hub_id, owed_month), members in owed_lines.items()
    }
    hubs = _hubs(list({hub_id for hub_id, _ in lines_by_draft}))
    card = card_payers(client_ids=[h.client_id for h in hubs.values()])
    drafts = [
        _hub_draft(hubs[hub_id], InvoiceKind.LICENSE, f"{owed:%Y-%m}", owed, clock.next_month(owed), lines, card)
        for (hub_id, owed), lines in sorted(lines_by_draft.items(), key=lambda item: item[0])
    ]
    return drafts, ids_by_draft


LICENSE_LINE = gettext_noop("License %(number)s (%(tier)s), %(month)s")


def license_issue_rows(*, numbers: list[tuple], month: dt.date, tiers: dict, issued_at: dt.datetime):
    """The License Invoices of locked numbers as `license_issue_drafts` issues them (PostgreSQL), without a Draft,
    line or Invoice object per invoice and line: the lines are tuples streamed with COPY, the invoices rows of a
    temporary table written already issued by `invoices_insert_issued` (one number block, at the end). What is the
    party's business (company snapshot, tax treatment, language, card) is decided as `invoices_issue` decides it;
    the fee and tax are `_finished_lines`' (fee 4% of the net on a card, shown when not zero; tax on net + fee)."""
    owed_lines, ids_by_draft = _owed_lines(numbers, month, tiers)
    if not owed_lines:
        return [], [], ids_by_draft
    hubs = dict_of_rows(
        Hub.objects.filter(one_of("id", list({hub_id for hub_id, _ in owed_lines}))).values_list(
            "id", "hub_id", "client_id", "currency"
        )
    )
    taken = set(
        Invoice.objects.filter(
            one_of("party_key", [f"hub:{hub_id}" for hub_id in hubs]),
            one_of("period_key", list({f"{owed:%Y-%m}" for _, owed in owed_lines})), kind=InvoiceKind.LICENSE,
        ).values_list("party_key", "period_key")
    )  # fmt: skip
    keys = sorted(key for key in owed_lines if (f"hub:{key[0]}", f"{key[1]:%Y-%m}") not in taken)
    if not keys:
        return [], [], ids_by_draft
    clients = {c.id: c for c in Client.objects.filter(one_of("id", {hub[1] for hub in hubs.values()}))}
    card = card_payers(client_ids=list(clients))
    ids = dict(zip(keys, ids_reserve(Invoice, len(keys)), strict=True))  # in draft order, as invoices_issue
    by_language = defaultdict(list)
    for key in keys:
        by_language[clients[hubs[key[0]][1]].billing_language].append(key)
    invoices, lines, now = [], [], clock.now()
    for language, group in by_language.items():
        with translation.override(language):
            template, fee_label = gettext(LICENSE_LINE), gettext("Transaction Fee")
            for hub_id, owed in group:
                public_hub_id, client_id, currency = hubs[hub_id]
                client, invoice_id = clients[client_id], ids[(hub_id, owed)]
                tax = tax_treatment(country=client.country, vat_id=client.vat_id)
                month_name = formats.month(owed)
                net = Decimal(0)
                for position, (e164, tier) in enumerate(owed_lines[(hub_id, owed)], start=1):
                    description = template % {"number": e164, "tier": tier.name, "month": month_name}
                    lines.append((invoice_id, position, "charge", description[:300], Decimal(1), tier.monthly_fee,
                                  tier.monthly_fee, {"number": e164, "tier": tier.code}))  # fmt: skip
                    net += tier.monthly_fee
                pays_by_card = ("client", client_id) in card
                fee = cents(net * CARD_FEE_RATE) if pays_by_card and net > 0 else Decimal("0.00")
                tax_amount = cents((net + fee) * tax.rate)
                if fee:
                    position += 1
                    lines.append((invoice_id, position, "fee", fee_label, Decimal(1), fee, fee,
                                  {"rate": str(CARD_FEE_RATE)}))  # fmt: skip
                lines.append((invoice_id, position + 1, "tax", tax.label[:300], Decimal(1), tax_amount, tax_amount,
                              {"base": str(net + fee)}))  # fmt: skip
                invoices.append((
                    invoice_id, InvoiceKind.LICENSE, f"hub:{hub_id}", hub_id, client_id, None, f"{owed:%Y-%m}", owed,
                    clock.next_month(owed), currency, net, fee, tax.rate, tax_amount, net + fee + tax_amount,
                    tax.note, pays_by_card,
                    json.dumps({**client.company_snapshot(), "hub_id": public_hub_id}), "{}", "", "", "", language,
                    now,
                ))  # fmt: skip
    copy_rows(InvoiceLine, LINE_COLUMNS, lines)
    columns = ["id", *(c for c in INVOICE_COLUMNS if c != "status")]
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS pg_temp.license_drafts")
        cursor.execute(
            f"CREATE TEMP TABLE license_drafts ON COMMIT DROP AS SELECT {', '.join(columns)} "  # noqa: S608
            f"FROM {Invoice._meta.db_table} WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY license_drafts ({', '.join(columns)}) FROM STDIN") as copy:
            for row in invoices:
                copy.write_row(row)
    issued = invoices_insert_issued(drafts_table="license_drafts", issued_at=issued_at)
    return IssuedInvoices(issued), [(f"hub:{hub_id}", f"{owed:%Y-%m}", owed) for hub_id, owed in keys], ids_by_draft


def dict_of_rows(rows) -> dict:
    """{first value: the rest} of value tuples."""
    return {row[0]: row[1:] for row in rows}


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
