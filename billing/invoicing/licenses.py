"""License invoices: the monthly License Invoice (1st of the month) and the pro-rated License Invoice – New Numbers
(a number onboarded after the 1st)."""

import calendar
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from functools import cache, partial

from django.db import connection, transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Q
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from billing import formats
from billing.invoicing.issue import (
    CARD_FEE_RATE,
    Draft,
    DraftLine,
    IssuedInvoices,
    Phrase,
    card_payers,
    company_of,
    hub_party_rows,
    invoices_insert_issued,
    invoices_issue,
)
from billing.models import Invoice, InvoiceKind
from billing.money import cents
from billing.queue import enqueue_on_commit
from billing.sql import one_of
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


def _mark_licensed(licensed: Sequence[tuple[int, dt.date]]) -> None:
    """The numbers on the invoices just issued are licensed through the latest month billed ((number id, month)
    pairs, in the same transaction), so no later job bills them for it again."""
    through: dict[int, dt.date] = {}
    for number_id, month in licensed:
        through[number_id] = max(through.get(number_id, month), month)
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
    day, pro-rated over the whole month. The numbers that may owe a month are locked in primary-key order (see
    _locked) until commit."""
    with transaction.atomic():
        issue = license_issue_rows if connection.vendor == "postgresql" else license_issue_drafts
        invoices, licensed = issue(hub_ids=hub_ids, month=month, issued_at=issued_at)
        _mark_licensed(licensed)
    return invoices


def license_issue_drafts(*, hub_ids: Sequence[int], month: dt.date, issued_at: dt.datetime):
    """The License Invoices through drafts and `invoices_issue`: the portable path (SQLite). On PostgreSQL
    `license_issue_rows` writes the same; a test proves it. Returns the invoices and the (number id, month) pairs
    they license."""
    tiers = {tier.id: tier for tier in LicenseTier.objects.all()}
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
    drafts, ids_by_draft = _license_drafts(numbers, month, tiers)
    invoices = invoices_issue(drafts=drafts, issued_at=issued_at)
    licensed = [
        (number_id, invoice.period_start)
        for invoice in invoices
        for number_id in ids_by_draft[(invoice.party_key, invoice.period_key)]
    ]
    return invoices, licensed


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


# The numbers of the chunk that may owe a month (the filters of license_issue_drafts' query), locked in primary-key
# order, each with every month it owes (`months_owed`: every month after its billed-through month, or only `month`
# for a number never billed, while its deletion was not requested before the month and had not taken effect).
OWED = """
CREATE TEMP TABLE license_owed ON COMMIT DROP AS
WITH locked AS (
    SELECT n.id, n.e164, w.hub_id, n.tier_id, n.licensed_through, n.deletion_requested_at, n.deleted_at
    FROM hub_phonenumber n JOIN hub_waba w ON w.id = n.waba_id
    WHERE w.hub_id = ANY(%(hubs)s) AND n.onboarded_at <= %(at)s
      AND (n.licensed_through IS NULL OR n.licensed_through < %(month)s)
      AND (n.status = ANY(%(live)s) OR (n.status = %(deleted)s AND n.licensed_through IS NOT NULL
           AND n.deleted_at > (n.licensed_through + interval '31 days') AT TIME ZONE 'UTC'))
    ORDER BY n.id
    FOR UPDATE OF n
)
SELECT l.id AS number_id, l.e164, l.hub_id, l.tier_id, m.owed::date AS owed
FROM locked l
CROSS JOIN LATERAL generate_series(
    coalesce(date_trunc('month', l.licensed_through::timestamp) + interval '1 month', %(month)s::timestamp),
    %(month)s::timestamp, interval '1 month'
) AS m(owed)
WHERE (l.deletion_requested_at IS NULL OR l.deletion_requested_at >= m.owed AT TIME ZONE 'UTC')
  AND (l.deleted_at IS NULL OR l.deleted_at > m.owed AT TIME ZONE 'UTC')
"""

# The hubs with a month owed and not yet invoiced (one invoice per party, kind and period, as invoices_issue).
# OFFSET 0 keeps the NOT EXISTS a probe of the (party, kind, period) unique index per row: as an anti join, planned
# on statistics from before the run's invoices were written, it compared every hub with every invoice of the kind
# issued so far (measured: 330 ms for the 11th of 12 chunks of a month close, against 8 ms for the first).
FRESH = """
SELECT DISTINCT o.hub_id FROM license_owed o
WHERE NOT EXISTS (SELECT 1 FROM billing_invoice i WHERE i.party_key = 'hub:' || o.hub_id AND i.kind = %(kind)s
                  AND i.period_key = to_char(o.owed, 'YYYY-MM') OFFSET 0)
"""

# One invoice per hub and month owed not yet invoiced, in (hub, month) order, each with an id drawn from the
# invoices' sequence (the lines reference them before `invoices_insert_issued` writes the invoices, issued): net =
# the fees; fee 4% of the net on a card, shown when not zero; tax on net + fee (`_finished_lines`).
DRAFTS = """
CREATE TEMP TABLE license_drafts ON COMMIT DROP AS
SELECT nextval(pg_get_serial_sequence('billing_invoice', 'id')) AS id, d.* FROM (
    SELECT %(kind)s::varchar AS kind, 'hub:' || k.hub_id AS party_key, k.hub_id, p.client_id,
           NULL::bigint AS partner_id, to_char(k.owed, 'YYYY-MM')::varchar AS period_key, k.owed AS period_start,
           (k.owed + interval '1 month')::date AS period_end, p.currency, k.net AS net_amount, t.fee AS fee_amount,
           p.tax_rate, t.tax AS tax_amount, k.net + t.fee + t.tax AS total, p.tax_note, p.pays_by_card,
           p.billed_company, '{}'::jsonb AS summary, ''::varchar AS void_reason, ''::varchar AS pdf,
           ''::text AS delivery_error, p.language, %(now)s::timestamptz AS created_at, p.tax_label, k.charges
    FROM (
        SELECT o.hub_id, o.owed, sum(tier.monthly_fee) AS net, count(*) AS charges
        FROM license_owed o JOIN hub_licensetier tier ON tier.id = o.tier_id
        GROUP BY o.hub_id, o.owed
    ) AS k
    JOIN jsonb_to_recordset(%(parties)s::jsonb) AS p(hub_id bigint, client_id bigint, currency text,
        billed_company jsonb, tax_rate numeric, tax_label text, tax_note text, pays_by_card boolean, language text)
        ON p.hub_id = k.hub_id
    CROSS JOIN LATERAL (
        SELECT fee, round((k.net + fee) * p.tax_rate, 2) AS tax
        FROM (SELECT CASE WHEN p.pays_by_card AND k.net > 0 THEN round(k.net * %(fee_rate)s, 2)
                          ELSE 0.00 END AS fee) AS x
    ) AS t
    WHERE NOT EXISTS (SELECT 1 FROM billing_invoice i WHERE i.party_key = 'hub:' || k.hub_id AND i.kind = %(kind)s
                      AND i.period_key = to_char(k.owed, 'YYYY-MM') OFFSET 0)  -- see FRESH
    ORDER BY k.hub_id, k.owed
) AS d
"""

# A line per number by E.164 (Python's order: code points, then id), its text the invoice language's template with
# the number put between its parts; the Transaction Fee when not zero; the tax line.
LINES = """
INSERT INTO billing_invoiceline (invoice_id, position, role, description, quantity, unit_amount, amount, details)
SELECT d.id, row_number() OVER (PARTITION BY d.id ORDER BY o.e164 COLLATE "C", o.number_id), 'charge',
       left(array_to_string(x.parts, o.e164), 300), 1, tier.monthly_fee, tier.monthly_fee,
       jsonb_build_object('number', o.e164, 'tier', tier.code)
FROM license_drafts d
JOIN license_owed o ON o.hub_id = d.hub_id AND o.owed = d.period_start
JOIN hub_licensetier tier ON tier.id = o.tier_id
JOIN jsonb_to_recordset(%(texts)s::jsonb) AS x(language text, tier_id bigint, owed date, parts text[])
    ON x.language = d.language AND x.tier_id = o.tier_id AND x.owed = o.owed
UNION ALL
SELECT d.id, d.charges + 1, 'fee', f.label, 1, d.fee_amount, d.fee_amount,
       jsonb_build_object('rate', %(fee_rate)s::text)
FROM license_drafts d JOIN jsonb_to_recordset(%(fee_labels)s::jsonb) AS f(language text, label text)
    ON f.language = d.language
WHERE d.fee_amount <> 0
UNION ALL
SELECT d.id, d.charges + CASE WHEN d.fee_amount <> 0 THEN 2 ELSE 1 END, 'tax', left(d.tax_label, 300), 1,
       d.tax_amount, d.tax_amount, jsonb_build_object('base', (d.net_amount + d.fee_amount)::text)
FROM license_drafts d
"""

LICENSED = """
SELECT o.number_id, o.owed FROM license_owed o
JOIN license_drafts d ON d.hub_id = o.hub_id AND d.period_start = o.owed AND d.id = ANY(%(ids)s)
"""

_NUMBER = "\x00number\x00"


def license_issue_rows(*, hub_ids: Sequence[int], month: dt.date, issued_at: dt.datetime):
    """The License Invoices as `license_issue_drafts` issues them (PostgreSQL), set-based: the numbers locked and
    their months owed, the invoices and their lines computed in SQL, a statement each, over temporary tables that
    live until the chunk's transaction ends; the invoices written already issued by `invoices_insert_issued` (one
    number block, at the end). What is the party's business (company snapshot, tax treatment, language, card) is
    decided in Python per billed hub (`hub_party_rows`), and the line texts once per language, tier and month."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")  # index-driven statements on a chunk's rows (month_close_set.py)
        cursor.execute("DROP TABLE IF EXISTS pg_temp.license_owed")
        cursor.execute(OWED, {
            "hubs": list(hub_ids), "at": issued_at, "month": month, "live": list(LIVE),
            "deleted": PhoneNumber.Status.DELETED,
        })  # fmt: skip
        if not cursor.rowcount:
            return [], []
        cursor.execute(FRESH, {"kind": InvoiceKind.LICENSE})
        fresh = [row[0] for row in cursor.fetchall()]
        if not fresh:
            return [], []
        cursor.execute("SELECT DISTINCT tier_id, owed FROM license_owed")
        billed = cursor.fetchall()
        hubs = Hub.objects.filter(one_of("id", fresh)).values_list("id", "hub_id", "client_id", "currency")
        parties = hub_party_rows(hubs=hubs)
        languages = {party["language"] for party in parties}
        cursor.execute("DROP TABLE IF EXISTS pg_temp.license_drafts")
        cursor.execute(DRAFTS, {
            "kind": InvoiceKind.LICENSE, "parties": json.dumps(parties), "fee_rate": CARD_FEE_RATE, "now": clock.now(),
        })  # fmt: skip
        if not cursor.rowcount:
            return [], []
        cursor.execute(LINES, {
            "texts": json.dumps(_line_texts(languages, billed)), "fee_rate": CARD_FEE_RATE,
            "fee_labels": json.dumps([{"language": lang, "label": _fee_label(lang)} for lang in languages]),
        })  # fmt: skip
        ids = invoices_insert_issued(drafts_table="license_drafts", issued_at=issued_at)
        cursor.execute(LICENSED, {"ids": ids})
        return IssuedInvoices(ids), cursor.fetchall()


def _line_texts(languages, billed: list[tuple[int, dt.date]]) -> list[dict]:
    """Per language, tier and month billed: LICENSE_LINE in that language, split where the number goes."""
    tiers = {tier.id: tier for tier in LicenseTier.objects.filter(one_of("id", {tier_id for tier_id, _ in billed}))}
    texts = []
    for language in languages:
        with translation.override(language):
            template = gettext(LICENSE_LINE)
            for tier_id, owed in billed:
                text = template % {"number": _NUMBER, "tier": tiers[tier_id].name, "month": formats.month(owed)}
                texts.append({"language": language, "tier_id": tier_id, "owed": owed.isoformat(),
                              "parts": text.split(_NUMBER)})  # fmt: skip
    return texts


@cache
def _fee_label(language: str) -> str:
    with translation.override(language):
        return gettext("Transaction Fee")


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
