"""Month close on PostgreSQL: `billing_run` on the 1st (License, Month Closing and Partner Plan invoices) for 10,000
hubs with 30,000 numbers and 3,000,000 usage events in the previous month.

Prints invoices per second, queries per hub and peak memory, and the time of the bare SQL aggregation of that
month's usage by hub: the floor no engine can beat. Target: the whole month close within 3x that floor, with a
constant number of queries per hub. PDF rendering is timed separately (PDFs per second for an MCI with 50 usage
rows). Invoice delivery is queued to an in-memory Celery broker during the run: no PDF is rendered inline.

With --workers 1 2 4 (and REDIS_URL), the same month close is then run again by real Celery worker processes
against the Redis broker: for each count, a fresh copy of the built world (CREATE DATABASE … TEMPLATE), one
`celery worker --concurrency N` on a queue of its own, one `billing.run_chunk` task per chunk of hubs sent to it,
timed from the first send until every hub's month is closed. Prints the time, hubs/s, the speed-up over the
first count, and the ratio to the floor.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/month_close.py
       [--hubs 10000] [--numbers-per-hub 3] [--events 3000000] [--pdfs 20] [--workers 1 2 4] [--chunk-size 500]
"""

import argparse
import contextlib
import cProfile
import datetime as dt
import logging
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._setup import bench_django, peak_rss_mib  # noqa: E402

DB_NAME = "hubportal_bench_month_close"
PERIOD = dt.date(2026, 10, 1)  # the month being closed
RUN_DAY = dt.date(2026, 11, 1)
RUN_AT = dt.datetime(2026, 11, 1, 0, 10, tzinfo=dt.UTC)
ONBOARDED_AT = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
DAYS = 31  # October
IDS_PER_HUB = 32  # ledger entry ids reserved per hub: FUNDS_ADDED + one USAGE per day
IDLE_EVERY = 50  # every 50th hub has no usage in the month (no MCI; its month is still closed)
DEBTOR_EVERY = 4  # every 4th hub added only 20.00 and ends the month owing (D > 0); the others added 500.00
CARD_EVERY = 10  # every 10th client pays by card (Transaction Fee)
PDF_USAGE_ROWS = 50
# Usage mix: (category, recipient country, market); each number cycles through the 15 combinations, so a
# 3-number hub's MCI has 45 usage rows.
CATEGORIES = ["marketing", "utility", "authentication"]
COUNTRIES = [("DE", "DE"), ("FR", "FR"), ("GB", "GB"), ("IN", "IN"), ("US", "NORTH_AMERICA")]
RATES = ["0.123457", "0.050600", "0.076800"]


class QueryCounter:
    """execute_wrapper: counts statements (and time spent executing them) per label, keeping no SQL."""

    def __init__(self) -> None:
        self.label = "other"
        self.counts: Counter[str] = Counter()
        self.sql_seconds: defaultdict[str, float] = defaultdict(float)

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.counts[self.label] += 1
            self.sql_seconds[self.label] += time.perf_counter() - started

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def celery_queue_only() -> str:
    """Invoice delivery (`billing.deliver_invoice`, one per invoice: PDF render + email) is queued on commit.
    config.settings.test runs tasks eagerly, which would render every PDF inside the timed run: queue them to
    kombu's in-memory transport instead, where they stay."""
    import billing.tasks  # noqa: F401 -- registers the tasks now, not inside the timed run
    from config.celery_app import app

    app.conf.task_always_eager = False
    app.conf.broker_url = "memory://localhost/"  # kombu in-memory transport (the host only silences a warning)
    app.conf.broker_transport_options = {}
    return "Celery task_always_eager=False, broker memory:// (invoice delivery queued in memory, no PDF rendered)"


class LogTally(logging.Handler):
    """Collects what the product logs at WARNING and above (e.g. a task it could not queue) for a one-line summary
    instead of a traceback per chunk."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def summary(self) -> str | None:
        if not self.records:
            return None
        first = self.records[0]
        return f"{len(self.records)} record(s), first from {first.name}: {first.getMessage()[:160]}"


def log_tally() -> LogTally:
    tally = LogTally()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(tally)
    return tally


def queued_messages() -> int | None:
    from config.celery_app import app

    try:
        with app.connection_for_write() as conn:
            return conn.default_channel.queue_declare(queue="celery", passive=True).message_count
    except Exception:  # noqa: BLE001 -- informative only
        return None


# --- the world -------------------------------------------------------------------------------------------------


def build_parties(hubs: int, numbers_per_hub: int) -> None:
    """Partners, clients, hubs, credit accounts, WABAs and numbers, with bulk_create."""
    from billing.models import CreditAccount, PaymentMethod
    from clients.models import Client
    from hub.models import Hub, LicenseTier, PhoneNumber, Waba
    from partners.models import Partner, Plan

    eur = Partner.objects.create(
        name="Bench EUR",
        company_name="Bench EUR GmbH",
        country="DE",
        currency="EUR",
        billing_email="eur@bench.example",
        plan=Plan.objects.get(code="growth"),
    )
    usd = Partner.objects.create(
        name="Bench USD",
        company_name="Bench USD Inc.",
        country="US",
        currency="USD",
        billing_email="usd@bench.example",
        plan=Plan.objects.get(code="premium"),
    )
    # Tax mix: DE 19%, FR with a VAT ID (reverse charge), AT without one (19%), US (outside the EU).
    eur_clients = [("DE", ""), ("FR", "FR12123456789"), ("AT", "")]
    clients = []
    for n in range(hubs):
        partner = usd if n % 3 == 2 else eur
        country, vat_id = ("US", "") if partner is usd else eur_clients[(n // 3) % len(eur_clients)]
        clients.append(
            Client(
                partner=partner,
                company_name=f"Client {n}",
                address_line1=f"Street {n}",
                postal_code="10117",
                city="Berlin",
                country=country,
                vat_id=vat_id,
                billing_email=f"c{n}@bench.example",
            )
        )
    Client.objects.bulk_create(clients, batch_size=2000)
    PaymentMethod.objects.bulk_create(
        [
            PaymentMethod(
                client=c,
                kind="card",
                position=0,
                stripe_payment_method_id=f"pm_bench_{n}",
                brand="visa",
                last4="4242",
                exp_month=12,
                exp_year=2030,
            )
            for n, c in enumerate(clients)
            if n % CARD_EVERY == 3
        ],
        batch_size=2000,
    )
    hub_rows = [
        Hub(hub_id=f"HUB-B{n:07d}"[:16], client=c, name=f"Hub {n}", currency=c.partner.currency)
        for n, c in enumerate(clients)
    ]
    Hub.objects.bulk_create(hub_rows, batch_size=2000)
    CreditAccount.objects.bulk_create([CreditAccount(hub=h, currency=h.currency) for h in hub_rows], batch_size=2000)
    wabas = [
        Waba(hub=h, meta_waba_id=f"{10_000_000 + n}", name=f"WABA {n}", timezone="UTC") for n, h in enumerate(hub_rows)
    ]
    Waba.objects.bulk_create(wabas, batch_size=2000)
    regular, premium = LicenseTier.objects.get(code="regular"), LicenseTier.objects.get(code="premium")
    PhoneNumber.objects.bulk_create(
        [
            PhoneNumber(
                waba=w,
                e164=f"+49151{n * numbers_per_hub + i:08d}",
                tier=premium if (n + i) % 5 == 0 else regular,
                status=PhoneNumber.Status.ACTIVE,
                onboarded_at=ONBOARDED_AT,
            )
            for n, w in enumerate(wabas)
            for i in range(numbers_per_hub)
        ],
        batch_size=5000,
    )


def build_usage_and_ledger(events: int) -> dict:
    """October's usage rows (INSERT … SELECT from generate_series) and the ledger they imply, in one transaction:
    per hub one FUNDS_ADDED on the 1st and one USAGE entry per day it had usage, each usage row pointing at its
    day's entry. Entry ids are computed (hub slot × 32 + day), so usage rows are written first; the foreign key is
    deferred to commit."""
    from django.db import connection, transaction

    laps, lap = {}, time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('billing_ledgerentry', 'id'))")
        base = cursor.fetchone()[0]
        cursor.execute(
            """
            CREATE TEMP TABLE bench_hub ON COMMIT DROP AS
            SELECT (row_number() OVER (ORDER BY h.id) - 1)::int AS slot, h.id AS hub_id, a.id AS account_id,
                   h.currency
            FROM hub_hub h JOIN billing_creditaccount a ON a.hub_id = h.id
            """
        )
        cursor.execute(
            """
            CREATE TEMP TABLE bench_number ON COMMIT DROP AS
            SELECT (row_number() OVER (ORDER BY n.id) - 1)::int AS k, n.id AS number_id, n.waba_id, b.hub_id, b.slot,
                   b.currency
            FROM hub_phonenumber n JOIN hub_waba w ON w.id = n.waba_id JOIN bench_hub b ON b.hub_id = w.hub_id
            WHERE b.slot %% %s <> %s - 1
            """,
            [IDLE_EVERY, IDLE_EVERY],
        )
        cursor.execute("CREATE UNIQUE INDEX ON bench_number (k)")
        cursor.execute("SELECT count(*) FROM bench_number")
        active_numbers = cursor.fetchone()[0]
        pairs = [(c, m) for m in range(len(COUNTRIES)) for c in range(len(CATEGORIES))]
        combos = [(j, CATEGORIES[c], *COUNTRIES[m], RATES[(c + m) % len(RATES)]) for j, (c, m) in enumerate(pairs)]
        cursor.execute(
            "CREATE TEMP TABLE bench_combo (j int PRIMARY KEY, category text, country text, market text, "
            "rate numeric(12, 6)) ON COMMIT DROP"
        )
        cursor.executemany("INSERT INTO bench_combo VALUES (%s, %s, %s, %s, %s)", combos)
        # Event i: number k = i mod N; its j-th event (j = i div N) falls on day j mod 31, combination j mod 15.
        cursor.execute(
            """
            INSERT INTO billing_messageusage (message_id, hub_id, waba_id, phone_number_id, recipient_country, market,
                category, pricing_model, pricing_type, estimated, unrated, billable, sent_at, rate_date, rate, cost,
                currency, period, ledger_entry_id, recorded_at)
            SELECT 'wamid.bench.' || g.i, n.hub_id, n.waba_id, n.number_id, c.country, c.market, c.category, 'PMP',
                   'regular', false, false, true, e.sent_at, (e.sent_at AT TIME ZONE 'UTC')::date, c.rate, c.rate,
                   n.currency, %(period)s,
                   %(base)s + n.slot * %(per_hub)s + 1 + e.day, e.sent_at + interval '1 minute'
            FROM generate_series(0::bigint, %(events)s::bigint - 1) AS g(i)
            JOIN bench_number n ON n.k = g.i %% %(numbers)s
            JOIN bench_combo c ON c.j = (g.i / %(numbers)s) %% %(combos)s
            CROSS JOIN LATERAL (
                SELECT (g.i / %(numbers)s) %% %(days)s AS day,
                       %(start)s::timestamptz + ((g.i / %(numbers)s) %% %(days)s) * interval '1 day'
                           + ((g.i * 7919) %% 86400) * interval '1 second' AS sent_at
            ) e
            """,
            {
                "period": PERIOD,
                "base": base,
                "per_hub": IDS_PER_HUB,
                "events": events,
                "numbers": active_numbers,
                "combos": len(combos),
                "days": DAYS,
                "start": dt.datetime.combine(PERIOD, dt.time.min, tzinfo=dt.UTC),
            },
        )
        usage_rows = cursor.rowcount
        laps["usage insert"], lap = time.perf_counter() - lap, time.perf_counter()
        # The ledger: FUNDS_ADDED (id slot × 32) then each day's USAGE (id slot × 32 + 1 + day), numbered and
        # running-balanced per account in that order.
        cursor.execute(
            """
            INSERT INTO billing_ledgerentry (id, account_id, kind, amount, currency, sequence, balance_after, period,
                occurred_at, posted_at, idempotency_key, reference, memo, created_by_id)
            SELECT m.id, m.account_id, m.kind, m.amount, m.currency,
                   row_number() OVER w, sum(m.amount) OVER (w ROWS UNBOUNDED PRECEDING), %(period)s,
                   m.occurred_at, m.occurred_at + interval '2 minutes', m.key, m.reference, '', NULL
            FROM (
                SELECT %(base)s + b.slot * %(per_hub)s AS id, b.account_id, 'FUNDS_ADDED' AS kind,
                       CASE WHEN b.slot %% %(debtor)s = 0 THEN 20.00 ELSE 500.00 END AS amount, b.currency,
                       %(start)s::timestamptz AS occurred_at, 'bench:funds:' || b.account_id AS key,
                       'Bank transfer' AS reference
                FROM bench_hub b
                UNION ALL
                SELECT u.ledger_entry_id, b.account_id, 'USAGE', -u.cost, b.currency, u.last_sent,
                       'bench:usage:' || b.account_id || ':'
                           || to_char(%(period)s::date + (u.ledger_entry_id - %(base)s - b.slot * %(per_hub)s - 1)::int,
                                      'YYYY-MM-DD'),
                       u.messages || ' messages'
                FROM (
                    SELECT hub_id, ledger_entry_id, sum(cost) AS cost, max(sent_at) AS last_sent, count(*) AS messages
                    FROM billing_messageusage WHERE period = %(period)s GROUP BY hub_id, ledger_entry_id
                ) u JOIN bench_hub b ON b.hub_id = u.hub_id
            ) m
            WINDOW w AS (PARTITION BY m.account_id ORDER BY m.id)
            """,
            {
                "period": PERIOD,
                "base": base,
                "per_hub": IDS_PER_HUB,
                "debtor": DEBTOR_EVERY,
                "start": dt.datetime.combine(PERIOD, dt.time.min, tzinfo=dt.UTC),
            },
        )
        entries = cursor.rowcount
        laps["ledger insert"], lap = time.perf_counter() - lap, time.perf_counter()
        cursor.execute(
            """
            UPDATE billing_creditaccount a SET balance = s.total, entry_count = s.entries
            FROM (SELECT account_id, sum(amount) AS total, count(*) AS entries FROM billing_ledgerentry
                  GROUP BY account_id) s
            WHERE a.id = s.account_id
            """
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('billing_ledgerentry', 'id'), "
            "(SELECT max(id) FROM billing_ledgerentry))"
        )
    laps["balances + commit (deferred FK checks)"] = time.perf_counter() - lap
    return {"usage_rows": usage_rows, "entries": entries, "active_numbers": active_numbers, "laps": laps}


def vacuum_analyze() -> None:
    """A month-old table has been vacuumed and analysed by autovacuum; do it now so it does not start mid-run."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in (
            "billing_messageusage",
            "billing_ledgerentry",
            "billing_creditaccount",
            "hub_hub",
            "hub_waba",
            "hub_phonenumber",
            "clients_client",
            "billing_paymentmethod",
            "partners_partner",
        ):
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def audit_or_exit(what: str) -> float:
    from billing.audit import ledger_audit

    started = time.perf_counter()
    violations = ledger_audit()
    seconds = time.perf_counter() - started
    print(f"  ledger_audit() {what}: {violations!r:.40} ({seconds:.1f} s)")
    if violations:
        for violation in violations[:20]:
            print(f"    {violation}")
        sys.exit(f"ledger_audit() found {len(violations)} violation(s) {what}: refusing to continue.")
    return seconds


# --- the floor and the timed run -------------------------------------------------------------------------------

FLOOR_SQL = "SELECT hub_id, SUM(cost) FROM billing_messageusage WHERE period = %s GROUP BY hub_id"


def floor_seconds(runs: int = 3) -> tuple[float, int]:
    from django.db import connection

    best, groups = float("inf"), 0
    with connection.cursor() as cursor:
        for _ in range(runs):
            started = time.perf_counter()
            cursor.execute(FLOOR_SQL, [PERIOD])
            groups = len(cursor.fetchall())
            best = min(best, time.perf_counter() - started)
    return best, groups


def instrument_jobs(counter: QueryCounter) -> dict[str, list[float]]:
    """Per-job wall time: wrap the issuers `billing_run` calls (module attributes looked up at call time)."""
    from billing.invoicing import calendar

    steps: dict[str, list[float]] = defaultdict(list)

    def timed(label, function):
        def wrapper(**kwargs):
            previous, counter.label = counter.label, label
            started = time.perf_counter()
            try:
                return function(**kwargs)
            finally:
                steps[label].append(time.perf_counter() - started)
                counter.label = previous

        return wrapper

    for attribute, label in (
        ("numbers_deletion_finalize", "number_deletions"),
        ("license_issue", "licenses"),
        ("month_close", "month_closing"),
        ("partner_plan_issue", "partner_plans"),
        ("new_numbers_issue", "new_numbers"),
        ("new_numbers_sweep", "new_numbers"),
        ("monthly_prepayment_issue", "monthly_prepayments"),
    ):
        if hasattr(calendar, attribute):  # the calendar's imports change as the product does
            setattr(calendar, attribute, timed(label, getattr(calendar, attribute)))
    return steps


def timed_run(counter: QueryCounter, steps) -> tuple:
    import time_machine
    from django.db import connection

    from billing.invoicing.calendar import billing_run

    steps.clear()
    counter.counts.clear()
    counter.sql_seconds.clear()
    with time_machine.travel(RUN_AT), connection.execute_wrapper(counter):
        profile = os.environ.get("BENCH_PROFILE")  # a file: cProfile of the first billing_run (pstats)
        profile = None if profile and os.path.exists(profile) else profile
        profiler = cProfile.Profile() if profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        report = billing_run(day=RUN_DAY)
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
        seconds = time.perf_counter() - started
    return report, seconds


# --- PDFs ------------------------------------------------------------------------------------------------------


def pdf_hub_close():
    """A hub whose October usage spans exactly 50 (number, category, market) combinations, posted through the
    ledger service (FUNDS_ADDED, one USAGE entry its usage rows point at) and closed with month_close."""
    import time_machine
    from django.db import transaction
    from djmoney.money import Money

    from billing.invoicing.month_close import month_close
    from billing.ledger import Posting, entry_ids_reserve, ledger_post_many
    from billing.models import MessageUsage
    from billing.onboarding import hub_open, number_onboard
    from clients.models import Client
    from hub.models import LicenseTier
    from hub.services import waba_create
    from partners.models import Partner

    numbers_, categories = 5, CATEGORIES[:2]
    assert numbers_ * len(categories) * len(COUNTRIES) == PDF_USAGE_ROWS
    with time_machine.travel(RUN_AT + dt.timedelta(minutes=30)), transaction.atomic():
        client = Client.objects.create(
            partner=Partner.objects.get(currency="EUR"),
            company_name="PDF Bench GmbH",
            address_line1="Pdfstraße 1",
            postal_code="10117",
            city="Berlin",
            country="DE",
            billing_email="pdf@bench.example",
        )
        hub = hub_open(client=client, name="PDF hub", hub_id="HUB-BPDF0001")
        waba = waba_create(hub=hub, meta_waba_id="99000000001", name="PDF WABA", timezone="UTC")
        tier = LicenseTier.objects.get(code="regular")
        numbers = [
            number_onboard(waba=waba, e164=f"+4917099{i:06d}", tier=tier, onboarded_at=ONBOARDED_AT)
            for i in range(numbers_)
        ]
        account = hub.credit_account
        usage_entry_id = entry_ids_reserve(1)[0]
        rows, sent_at = [], dt.datetime(2026, 10, 2, 8, tzinfo=dt.UTC)
        for n, number in enumerate(numbers):
            for c, category in enumerate(categories):
                for m, (country, market) in enumerate(COUNTRIES):
                    rate = Decimal(RATES[(c + m) % len(RATES)])
                    for x in range(1 + (n + c + m) % 3):
                        sent_at += dt.timedelta(minutes=7)
                        rows.append(
                            MessageUsage(
                                message_id=f"wamid.pdf.{n}.{c}.{m}.{x}",
                                hub=hub,
                                waba=waba,
                                phone_number=number,
                                recipient_country=country,
                                market=market,
                                category=category,
                                billable=True,
                                sent_at=sent_at,
                                rate_date=sent_at.date(),
                                rate=rate,
                                cost=rate,
                                currency="EUR",
                                period=PERIOD,
                                ledger_entry_id=usage_entry_id,
                                recorded_at=sent_at,
                            )
                        )
        MessageUsage.objects.bulk_create(rows)
        ledger_post_many(
            postings=[
                Posting(
                    account.id,
                    "FUNDS_ADDED",
                    Money("10.00", "EUR"),
                    "bench:pdf:funds",
                    dt.datetime(2026, 10, 1, 9, tzinfo=dt.UTC),
                ),
                Posting(
                    account.id,
                    "USAGE",
                    Money(-sum(r.cost for r in rows), "EUR"),
                    "bench:pdf:usage",
                    sent_at,
                    reference=f"{len(rows)} messages",
                    entry_id=usage_entry_id,
                ),
            ]
        )
    with time_machine.travel(RUN_AT + dt.timedelta(minutes=31)):
        (invoice,) = month_close(hub_ids=[hub.id], period=PERIOD, issued_at=RUN_AT + dt.timedelta(minutes=31))
    return invoice


def pdf_invoice(report):
    """An issued MCI whose usage breakdown has exactly 50 rows: one from the run if any, else the PDF hub's."""
    from billing.models import InvoiceKind
    from billing.selectors.usage_breakdown import mci_usage_breakdown

    for invoice in [i for i in report.issued if i.kind == InvoiceKind.MONTH_CLOSING][:20]:
        if len(mci_usage_breakdown(invoice=invoice)) == PDF_USAGE_ROWS:
            return invoice, "an MCI of the run"
    first = next((i for i in report.issued if i.kind == InvoiceKind.MONTH_CLOSING), None)
    rows = len(mci_usage_breakdown(invoice=first)) if first else 0
    return pdf_hub_close(), f"a separate hub closed with month_close (the run's MCIs have {rows} usage rows)"


def time_pdfs(invoice, count: int) -> tuple[float, int]:
    from billing.models import Invoice
    from billing.pdf import invoice_pdf_render

    invoice = Invoice.objects.get(pk=invoice.pk)
    invoice_pdf_render(invoice=invoice)  # warm-up: templates, fonts
    started = time.perf_counter()
    size = 0
    for _ in range(count):
        size = len(invoice_pdf_render(invoice=invoice))
    return time.perf_counter() - started, size


# --- month close on real Celery workers ------------------------------------------------------------------------

WORKER_QUEUE = "bench_month_close"


def database_copy(source: str, target: str) -> None:
    """CREATE DATABASE target TEMPLATE source (no session may be connected to source: Django's is closed)."""
    import psycopg
    from django.db import connections

    from bench._setup import admin_url

    connections.close_all()
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target}"')
        for attempt in range(20):  # autovacuum may be connected to the template for a moment
            try:
                conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
                return
            except psycopg.errors.ObjectInUse:
                time.sleep(0.5 + attempt * 0.1)
        raise RuntimeError(f"{source} stayed in use: cannot copy it")


def database_drop(name: str) -> None:
    import psycopg

    from bench._setup import admin_url

    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_url(name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}"))


def broker_app(redis_url: str):
    """A Celery app of the bench's own that only sends to (and purges) the Redis broker the workers read."""
    from celery import Celery

    return Celery("bench_month_close", broker=redis_url)


def worker_start(*, count: int, database: str, redis_url: str):
    """`celery worker --concurrency count` (prefork: that many processes) on the bench's queue, against `database`."""
    import subprocess

    env = {
        **os.environ, "DATABASE_URL": database_url(database), "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "config.settings.test", "CELERY_TASK_ALWAYS_EAGER": "0",
    }  # fmt: skip
    command = [
        str(Path(sys.executable).with_name("celery")), "-A", "config.celery_app", "worker", "--pool", "prefork",
        "--concurrency", str(count), "-Q", WORKER_QUEUE, "--loglevel", "WARNING", "--without-gossip",
        "--without-mingle", "--without-heartbeat", "-n", f"bench-month-close-{os.getpid()}-{count}@%h",
    ]  # fmt: skip
    log_path = Path(tempfile.gettempdir()) / f"bench_month_close_worker_{os.getpid()}_{count}.log"
    log = log_path.open("w")  # closed by worker_stop
    process = subprocess.Popen(command, cwd=Path(__file__).resolve().parent.parent, env=env, stdout=log,
                               stderr=subprocess.STDOUT)  # fmt: skip
    return process, log


def worker_ready(app, process, count: int, timeout: float = 120) -> None:
    """Until the worker's `count` processes answer a ping (each has set up Django)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the Celery worker exited with {process.returncode} (see its log)")
        replies = app.control.ping(timeout=1.0)
        if replies:
            stats = app.control.inspect(timeout=1.0).stats() or {}
            if any(len(s.get("pool", {}).get("processes", [])) >= count for s in stats.values()):
                return
        time.sleep(0.5)
    sys.exit(f"the Celery worker was not ready in {timeout:.0f} s")


def worker_stop(process, log) -> None:
    process.terminate()  # warm shutdown: the pool's processes finish and exit
    try:
        process.wait(timeout=60)
    except Exception:  # noqa: BLE001 -- a worker that does not stop is killed
        process.kill()
        process.wait()
    log.close()


def closed_accounts(database: str) -> tuple[int, int]:
    """(accounts whose month is closed, all accounts) in `database`."""
    import psycopg

    with psycopg.connect(database_url(database)) as conn:
        return conn.execute(
            "SELECT count(*) FILTER (WHERE closed_through = %s), count(*) FROM billing_creditaccount", [PERIOD]
        ).fetchone()


def workers_run(*, count: int, template: str, hub_chunks: list[list[int]], redis_url: str) -> dict:
    """One timed month close on `count` worker processes, on a fresh copy of the world."""
    database = f"{template}_w"
    database_copy(template, database)
    _, accounts = closed_accounts(database)
    app = broker_app(redis_url)
    process, log = worker_start(count=count, database=database, redis_url=redis_url)
    try:
        worker_ready(app, process, count)
        started = time.perf_counter()
        for ids in hub_chunks:
            app.send_task("billing.run_chunk", args=("month_closing", RUN_DAY.isoformat(), ids), queue=WORKER_QUEUE)
        closed, deadline = 0, time.monotonic() + 30 * 60
        while closed < accounts and time.monotonic() < deadline:
            time.sleep(0.05)
            closed, _ = closed_accounts(database)
        seconds = time.perf_counter() - started
    finally:
        worker_stop(process, log)
        with app.connection_for_write() as conn:  # the invoice deliveries the chunks queued: not run here
            for queue in ("celery", WORKER_QUEUE):
                with contextlib.suppress(Exception):  # a queue never declared has nothing to purge
                    conn.default_channel.queue_purge(queue)
    issued = _mcis_and_audit(database)
    database_drop(database)
    return {"count": count, "seconds": seconds, "closed": closed, **issued}


def _mcis_and_audit(database: str) -> dict:
    """What the workers issued, and whether the copy's books are clean (the ledger audit's own queries)."""
    import psycopg

    with psycopg.connect(database_url(database)) as conn:
        mcis, numbers, highest = conn.execute(
            "SELECT count(*), count(DISTINCT number), max(substring(number FROM 10)::int) FROM billing_invoice "
            "WHERE kind = 'MONTH_CLOSING' AND period_start = %s",
            [PERIOD],
        ).fetchone()
        gaps = conn.execute(
            "SELECT count(*) FROM (SELECT substring(number FROM 10)::int AS n, "
            "lag(substring(number FROM 10)::int) OVER (ORDER BY number) AS previous FROM billing_invoice "
            "WHERE number LIKE 'INV-2026-%%') s WHERE previous IS NOT NULL AND n <> previous + 1"
        ).fetchone()[0]
        drift = conn.execute(
            "SELECT count(*) FROM billing_creditaccount a LEFT JOIN (SELECT account_id, sum(amount) AS total "
            "FROM billing_ledgerentry GROUP BY account_id) s ON s.account_id = a.id "
            "WHERE a.balance <> coalesce(s.total, 0)"
        ).fetchone()[0]
    return {"mcis": mcis, "distinct_numbers": numbers, "gaps": gaps, "balance_drift": drift, "highest": highest}


def print_workers(results: list[dict], floor: float, hubs: int, chunk_count: int) -> None:
    base = results[0]["seconds"]
    print(
        f"  Celery workers          month_closing only, {chunk_count} chunk task(s) on a Redis queue, fresh copy each"
    )
    for r in results:
        print(
            f"    {r['count']} worker process(es)  {r['seconds']:6.2f} s = {hubs / r['seconds']:7,.0f} hubs/s, "
            f"speed-up {base / r['seconds']:.2f}x over {results[0]['count']}, {r['seconds'] / floor:5.1f}x the floor; "
            f"{r['mcis']:,} MCIs, {r['distinct_numbers']:,} numbers, {r['gaps']} gaps, "
            f"{r['balance_drift']} balance drifts, {r['closed']:,}/{hubs:,} hubs closed"
        )


# --- main ------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hubs", type=int, default=10_000)
    parser.add_argument("--numbers-per-hub", type=int, default=3)
    parser.add_argument("--events", type=int, default=3_000_000)
    parser.add_argument("--pdfs", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="*", default=[], help="e.g. 1 2 4 (needs REDIS_URL)")
    parser.add_argument("--chunk-size", type=int, default=None, help="hubs per chunk task (default CHUNK_SIZE)")
    args = parser.parse_args()
    redis_url = os.environ.get("REDIS_URL")
    if args.workers and not redis_url:
        sys.exit("--workers runs real Celery workers against Redis: set REDIS_URL=redis://…")

    db_name = bench_django(DB_NAME)
    from billing.invoicing import calendar
    from billing.models import InvoiceKind
    from billing.selectors.usage_breakdown import mci_usage_breakdown

    celery_note = celery_queue_only()
    tally = log_tally()
    hubs, numbers = args.hubs, args.hubs * args.numbers_per_hub
    print(
        f"month close on PostgreSQL: {hubs:,} hubs, {numbers:,} numbers, {args.events:,} usage events in "
        f"{PERIOD:%B %Y}; billing_run for {RUN_DAY}"
    )
    print(f"  settings                config.settings.test; {celery_note}")

    started = time.perf_counter()
    build_parties(hubs, args.numbers_per_hub)
    parties_seconds = time.perf_counter() - started
    built = build_usage_and_ledger(args.events)
    lap = time.perf_counter()
    vacuum_analyze()
    laps = {"parties (bulk_create)": parties_seconds, **built["laps"], "vacuum + analyze": time.perf_counter() - lap}
    print(
        f"  world built             {time.perf_counter() - started:.1f} s: {built['usage_rows']:,} usage rows on "
        f"{built['active_numbers']:,} numbers, {built['entries']:,} ledger entries (every {IDLE_EVERY}th hub idle, "
        f"every {DEBTOR_EVERY}th owes)"
    )
    print("    " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in laps.items()))
    audit_or_exit("on the built world")

    floor, groups = floor_seconds()
    print(f"  floor (SQL GROUP BY)    {floor:.3f} s, best of 3 ({groups:,} hubs with usage)")
    print(f"    {FLOOR_SQL % repr(str(PERIOD))}")
    template = f"{db_name}_tpl"
    if args.workers:
        database_copy(db_name, template)  # the world as built, before this process closes the month in it
    if args.chunk_size:
        calendar.CHUNK_SIZE = args.chunk_size

    counter = QueryCounter()
    steps = instrument_jobs(counter)
    rss_before = peak_rss_mib()
    report, seconds = timed_run(counter, steps)
    rss_after = peak_rss_mib()
    kinds = Counter(invoice.kind for invoice in report.issued)
    issued = len(report.issued)
    print(
        f"  billing_run             {seconds:.2f} s, {issued:,} invoices = {issued / seconds:,.0f} invoices/s  "
        f"({', '.join(f'{k} {v:,}' for k, v in sorted(kinds.items()))})"
    )
    print(
        f"  queries                 {counter.total:,} total = {counter.total / hubs:.3f} per hub "
        f"(chunks of {calendar.CHUNK_SIZE} hubs; COPY streams not counted); "
        f"{sum(counter.sql_seconds.values()):.2f} s executing SQL"
    )
    for label, times in steps.items():
        print(
            f"    {label:<20} {sum(times):7.2f} s in {len(times):>3} step(s), {counter.counts[label]:>5} queries "
            f"({counter.counts[label] / len(times):.0f} per step), {counter.sql_seconds[label]:6.2f} s in SQL"
        )
    untracked = seconds - sum(sum(times) for times in steps.values())
    print(f"    {'hub/partner ids etc.':<20} {untracked:7.2f} s, {counter.counts['other']:>5} queries")
    verdict = "met" if seconds <= 3 * floor else "MISSED"
    print(f"  ratio to floor          {seconds / floor:.1f}x  (whole billing_run; target <= 3x: {verdict})")
    close_seconds = sum(steps.get("month_closing", []))
    print(f"    month_closing alone   {close_seconds / floor:.1f}x  ({close_seconds:.2f} s)")
    print(f"  peak memory (RSS)       {rss_after:.0f} MiB (was {rss_before:.0f} MiB before the run, this process)")
    queued = queued_messages()
    if queued is not None:
        print(f"  tasks queued            {queued:,} messages in the in-memory broker (invoice delivery etc.; not run)")

    again, again_seconds = timed_run(counter, steps)
    print(f"  idempotent re-run       issued {len(again.issued)} in {again_seconds:.2f} s ({counter.total:,} queries)")
    audit_or_exit("after the month close")

    invoice, source = pdf_invoice(report)
    rows = len(mci_usage_breakdown(invoice=invoice))
    pdf_seconds, size = time_pdfs(invoice, args.pdfs)
    assert invoice.kind == InvoiceKind.MONTH_CLOSING
    print(
        f"  PDF render              {args.pdfs / pdf_seconds:.1f} PDFs/s ({args.pdfs} renders in {pdf_seconds:.2f} s, "
        f"{size / 1024:.0f} KiB each) of MCI {invoice.number} with {rows} usage rows: {source}"
    )
    if args.workers:
        hub_chunks = list(calendar.chunks(calendar.hub_ids()[:hubs], args.chunk_size))  # the world's, not the PDF's
        results = [
            workers_run(count=n, template=template, hub_chunks=hub_chunks, redis_url=redis_url) for n in args.workers
        ]
        database_drop(template)
        print_workers(results, floor, hubs, len(hub_chunks))
    if tally.summary():
        print(f"  logged (WARNING+)       {tally.summary()}")


if __name__ == "__main__":
    main()
