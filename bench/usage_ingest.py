"""Ingest 200,000 message status events through the usage service on PostgreSQL.

Prints events per second for 1 and 2 processes, queries per batch and peak memory, beside its own floor measured in
the same run: a bare COPY of as many rows of the same width (the rows the run wrote) into a copy of the usage table
with the same indexes (CREATE TABLE … (LIKE billing_messageusage INCLUDING ALL)), and the ratio. Then a cProfile of
one batch: where the time goes, and the CPU a batch costs in this process and in its PostgreSQL backend beside the
floor's (read from /proc when the server runs on this machine). Target (issue 14): within 2x the floor.
Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/usage_ingest.py [--events N]
"""

import argparse
import base64
import datetime as dt
import multiprocessing
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._setup import bench_django, peak_rss_mib, process_cpu_seconds  # noqa: E402

HUBS, NUMBERS_PER_HUB, BATCH = 200, 3, 1000
COUNTRIES = ["DE", "DE", "FR", "GB", "IN", "BR", "US", "JP", "ES", "IT", "NG", "AT"]
CATEGORIES = ["marketing", "marketing", "utility", "authentication", "service"]


def build_world():
    from billing.onboarding import hub_open, number_onboard
    from billing.usage.rate_card import rate_card_load
    from clients.models import Client
    from hub.models import LicenseTier
    from hub.services import waba_create
    from partners.models import Partner, Plan

    sample = Path(__file__).resolve().parent.parent / "billing/usage/data/rate_card_sample.csv"
    with open(sample, encoding="utf-8") as f:
        rate_card_load(lines=f, source="sample")
    partner = Partner.objects.create(
        name="Bench",
        company_name="Bench GmbH",
        country="DE",
        currency="EUR",
        billing_email="b@bench.example",
        plan=Plan.objects.get(code="growth"),
    )
    tier = LicenseTier.objects.get(code="regular")
    numbers = []
    for h in range(HUBS):
        client = Client.objects.create(
            partner=partner, company_name=f"Client {h}", country="DE", billing_email=f"c{h}@bench.example"
        )
        waba = waba_create(
            hub=hub_open(client=client, name=f"Hub {h}"),
            meta_waba_id=f"{500000 + h}",
            name=f"W{h}",
            timezone="Europe/Berlin",
        )
        for n in range(NUMBERS_PER_HUB):
            number_onboard(
                waba=waba,
                e164=f"+49151{h:04d}{n:04d}",
                tier=tier,
                onboarded_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
            )
            numbers.append((waba.meta_waba_id, f"+49151{h:04d}{n:04d}"))
    return numbers


# Meta's wamid: 'wamid.' + base64 of a small protobuf holding the recipient's number and a random hex id, e.g.
# wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA = b'\x1c\x18\x0b' '16503879439' b'\x15\x02\x00\x11\x18\x12'
# 'CB6B39DAA892A118E5' b'\x00' (58 characters). The bench's random ids have that shape: a random 11-digit number
# and 18 random hex digits.
WAMID_HEAD, WAMID_MIDDLE, WAMID_TAIL = b"\x1c\x18\x0b", b"\x15\x02\x00\x11\x18\x12", b"\x00"


def wamid(rng: random.Random) -> str:
    number = f"{rng.randrange(10**10, 10**11)}".encode()
    payload = WAMID_HEAD + number + WAMID_MIDDLE + f"{rng.getrandbits(72):018X}".encode() + WAMID_TAIL
    return "wamid." + base64.b64encode(payload).decode()


def events(numbers, total: int, offset: int = 0, *, random_ids: bool = False):
    rng = random.Random(42 + offset)
    ids = random.Random(f"wamid-{offset}")  # a stream of its own: the events are the same with either kind of id
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    for i in range(offset, offset + total):
        waba_id, e164 = rng.choice(numbers)
        category = rng.choice(CATEGORIES)
        yield {
            "message_id": wamid(ids) if random_ids else f"wamid.bench.{i:09d}",
            "waba_id": waba_id,
            "phone_number": e164,
            "recipient_country": rng.choice(COUNTRIES),
            "category": category,
            "billable": category != "service",
            "pricing_model": "PMP",
            "timestamp": (start + dt.timedelta(seconds=(i % 300_000) * 7)).isoformat(),
        }


def ingest(batches) -> int:
    """Runs in a worker process: its own database connection, the service called batch by batch."""
    import time_machine
    from django.db import connection

    from billing.usage.ingest import usage_record_batch

    connection.close()  # never share the parent's socket across fork
    with time_machine.travel(dt.datetime(2026, 12, 1, tzinfo=dt.UTC)):
        return sum(usage_record_batch(events=batch).accepted for batch in batches)


def timed_ingest(batches, workers: int) -> tuple[int, float]:
    started = time.perf_counter()
    if workers == 1:
        accepted = ingest(batches)
    else:
        from django.db import connection

        connection.close()
        context = multiprocessing.get_context("fork")
        with context.Pool(workers) as pool:
            accepted = sum(pool.map(ingest, [batches[w::workers] for w in range(workers)]))
    return accepted, time.perf_counter() - started


def backend_cpu() -> float | None:
    """CPU seconds used so far by this connection's PostgreSQL backend, or None when the server is not on this
    machine."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    return process_cpu_seconds(pid)


def cpu_split(numbers, batches: int = 20, *, random_ids: bool = False) -> tuple[float, float | None]:
    """CPU milliseconds per batch of new events, one process: this process's (parsing, rating, the driver) and its
    PostgreSQL backend's (None when the server is elsewhere)."""
    import time_machine

    from billing.usage.ingest import usage_record_batch

    fresh = list(events(numbers, batches * BATCH, offset=20_000_000, random_ids=random_ids))
    with time_machine.travel(dt.datetime(2026, 12, 1, tzinfo=dt.UTC)):
        usage_record_batch(events=fresh[:BATCH])  # the connection, the staging table: set up before measuring
        server, client = backend_cpu(), time.process_time()
        for i in range(BATCH, len(fresh), BATCH):
            usage_record_batch(events=fresh[i : i + BATCH])
        client = time.process_time() - client
        after = backend_cpu()
    measured = batches - 1
    return 1000 * client / measured, None if server is None or after is None else 1000 * (after - server) / measured


def copy_floor(rows: int) -> tuple[float, float | None]:
    """Rows per second of a bare COPY of `rows` usage rows (read back from the table, so the same width) into a
    fresh copy of the usage table with the same indexes and constraints (no foreign keys), in one transaction;
    and its backend's CPU milliseconds per 1,000 rows (None when the server is elsewhere)."""
    import io

    from django.db import connection

    from billing.models import MessageUsage

    table = MessageUsage._meta.db_table
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY (SELECT * FROM {table} LIMIT {int(rows)}) TO STDOUT") as copy:  # noqa: S608
            for chunk in copy:
                buffer.write(chunk)
        cursor.execute("DROP TABLE IF EXISTS bench_usage_floor")
        cursor.execute(f"CREATE TABLE bench_usage_floor (LIKE {table} INCLUDING ALL)")
    data = buffer.getvalue()
    server = backend_cpu()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        with cursor.copy("COPY bench_usage_floor FROM STDIN") as copy:
            for i in range(0, len(data), 1 << 20):
                copy.write(data[i : i + (1 << 20)])
        cursor.execute("SELECT count(*) FROM bench_usage_floor")
        (copied,) = cursor.fetchone()
    elapsed = time.perf_counter() - started
    after = backend_cpu()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_usage_floor")
    return copied / elapsed, None if server is None or after is None else 1_000_000 * (after - server) / copied


# The preloaded rows' random ids, in SQL: the same shape as wamid(), the number and the hex digits taken from
# md5('preload' || g) (so the same N rows every run).
PRELOAD_RANDOM_ID = """'wamid.' || encode('\\x1c180b'::bytea
    || convert_to((10000000000 + ('x' || substr(h, 1, 10))::bit(40)::bigint %% 90000000000)::text, 'UTF8')
    || '\\x150200111812'::bytea || convert_to(upper(substr(h, 11, 18)), 'UTF8') || '\\x00'::bytea, 'base64')"""
RANDOM_GROWTH_FILLFACTOR = 69  # mean leaf fill of a btree grown by random inserts (about ln 2)


def message_id_indexes(cursor, table: str) -> list[tuple[str, str, str | None]]:
    """(index name, CREATE INDEX statement, the UNIQUE constraint it backs or None) of the table's indexes on
    message_id."""
    cursor.execute(
        """
        SELECT i.relname, pg_get_indexdef(i.oid), c.conname
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = ANY (x.indkey)
        LEFT JOIN pg_constraint c ON c.conindid = i.oid AND c.conrelid = x.indrelid
        WHERE x.indrelid = %s::regclass AND a.attname = 'message_id'
        ORDER BY i.relname
        """,
        [table],
    )
    return cursor.fetchall()


def preload(rows: int, *, random_ids: bool = False, build_index: bool = False) -> tuple[float, float]:
    """`rows` usage rows already in the table before the runs (earlier months' traffic, spread over the bench's
    numbers, debited by no entry: their cost is 0), written by one INSERT … SELECT; seconds it took, and of them
    the seconds spent building the message-id indexes again (`build_index`: they are dropped first and built
    with RANDOM_GROWTH_FILLFACTOR). For "How cost grows": the same runs against a table of 0, 1M, 3M … rows."""
    from django.db import connection

    table = "billing_messageusage"
    message_id = PRELOAD_RANDOM_ID if random_ids else "'wamid.preload.' || lpad(g::text, 10, '0')"
    started = time.perf_counter()
    with connection.cursor() as cursor:
        dropped = message_id_indexes(cursor, table) if build_index else []
        for index, _, constraint in dropped:
            if constraint:
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {constraint}")
            else:
                cursor.execute(f"DROP INDEX {index}")
        cursor.execute(
            f"""
            WITH numbers AS (
                SELECT array_agg(n.id ORDER BY n.id) AS ids, array_agg(n.waba_id ORDER BY n.id) AS wabas,
                    array_agg(w.hub_id ORDER BY n.id) AS hubs, count(*)::int AS how_many
                FROM hub_phonenumber AS n JOIN hub_waba AS w ON w.id = n.waba_id
            )
            INSERT INTO {table} (message_id, hub_id, waba_id, phone_number_id, recipient_country, market,
                category, pricing_model, billable, pricing_type, estimated, unrated, sent_at, rate_date, rate, cost,
                currency, period, ledger_entry_id, recorded_at)
            SELECT {message_id}, hubs[1 + g %% how_many], wabas[1 + g %% how_many],
                ids[1 + g %% how_many], 'DE', 'DE', 'marketing', 'PMP', false, 'regular', false, false, t, t::date,
                0, 0, 'EUR', date_trunc('month', t)::date, NULL, t
            FROM numbers, generate_series(1, %s) AS g,
                LATERAL (SELECT timestamptz '2026-01-01' + (g %% 26000000) * interval '1 second' AS t,
                    md5('preload' || g) AS h) AS s
            """,  # noqa: S608 -- the table's name and the id expression are the bench's own
            [rows],
        )
        built = time.perf_counter()
        if dropped:
            cursor.execute("SET maintenance_work_mem = '1GB'")
        for index, definition, constraint in dropped:
            cursor.execute(f"{definition} WITH (fillfactor = {RANDOM_GROWTH_FILLFACTOR})")
            if constraint:
                cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {constraint} UNIQUE USING INDEX {index}")
            cursor.execute(f"ALTER INDEX {index} RESET (fillfactor)")
        if dropped:
            cursor.execute("RESET maintenance_work_mem")
        built = time.perf_counter() - built if dropped else 0.0
        cursor.execute(f"ANALYZE {table}")
    return time.perf_counter() - started, built


def profile_batch(numbers, *, random_ids: bool = False) -> None:
    """cProfile of one batch of new events through usage_record_batch: the top functions by own time."""
    import cProfile
    import io
    import pstats

    import time_machine

    from billing.usage.ingest import usage_record_batch

    batch = list(events(numbers, BATCH, offset=10_000_000, random_ids=random_ids))
    profiler = cProfile.Profile()
    with time_machine.travel(dt.datetime(2026, 12, 1, tzinfo=dt.UTC)):
        profiler.enable()
        usage_record_batch(events=batch)
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(15)
    print("  one batch under cProfile (top 15 by own time):")
    print("\n".join("    " + line for line in out.getvalue().splitlines() if line.strip())[:6000])


def usage_blocks(connection) -> tuple[int, int, int, int]:
    """The usage table's blocks its indexes and its heap read into shared_buffers (from the page cache or the disk)
    and found there, so far (all backends: the counters are per table). The connection is closed first, so that
    this and every earlier backend have written their counts."""
    connection.close()
    time.sleep(1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT idx_blks_read, idx_blks_hit, heap_blks_read, heap_blks_hit FROM pg_statio_user_tables "
            "WHERE relname = 'billing_messageusage'"
        )
        return cursor.fetchone()


def table_sizes(connection) -> str:
    """The usage table's size with its indexes, of them the indexes', and each message-id index's."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size('billing_messageusage'), pg_indexes_size('billing_messageusage')")
        total_size, index_size = cursor.fetchone()
        names = [name for name, _, _ in message_id_indexes(cursor, "billing_messageusage")]
        cursor.execute("SELECT relname, pg_relation_size(oid) FROM pg_class WHERE relname = ANY (%s)", [names])
        sizes = dict(cursor.fetchall())
    each = ", ".join(f"{name} {sizes[name] / 2**20:,.0f}" for name in names)
    return f"{total_size / 2**20:,.0f} MiB with its indexes, {index_size / 2**20:,.0f} MiB of them indexes ({each})"


def server_memory(connection) -> str:
    """shared_buffers, and the page cache the kernel could give the table (MemAvailable, when readable)."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW shared_buffers")
        (shared_buffers,) = cursor.fetchone()
    try:
        meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        available = f"; this machine's MemAvailable {int(meminfo['MemAvailable'].split()[0]) / 2**20:.1f} GiB"
    except (OSError, KeyError, ValueError):
        available = ""
    return f"shared_buffers {shared_buffers}{available}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--preload", type=int, default=0, help="usage rows in the table before the runs")
    parser.add_argument(
        "--random-ids",
        action="store_true",
        help="random wamid-like message ids (58 characters) for the preloaded rows and the events, not ordered ones",
    )
    parser.add_argument(
        "--preload-index",
        choices=["organic", "built"],
        default="organic",
        help="organic: the message-id indexes grow as the preloaded rows go in; built: built after the load "
        f"with fillfactor {RANDOM_GROWTH_FILLFACTOR} (faster; evenly filled leaves in key order)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="run once per figure: 1 = one process, 2 = two processes (one per core)",
    )
    args = parser.parse_args()
    bench_django("hubportal_bench_usage")
    from config.celery_app import app

    # Tasks queued by ingestion (automatic top-ups of low balances) go to an in-memory broker, as they would go to
    # Redis for the workers: the figure is the ingestion path's, not the workers'.
    app.conf.update(task_always_eager=False, broker_url="memory://localhost/")
    import time_machine
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from billing.audit import ledger_audit
    from billing.models import MessageUsage
    from billing.usage.ingest import usage_record_batch

    numbers = build_world()
    ids = "random wamid-like message ids (58 characters)" if args.random_ids else "message ids in order"
    if args.preload:
        build_index = args.preload_index == "built"
        seconds, index_seconds = preload(args.preload, random_ids=args.random_ids, build_index=build_index)
        how = (
            f"message-id indexes dropped and built after the load with fillfactor {RANDOM_GROWTH_FILLFACTOR} in "
            f"{index_seconds:.1f} s (as large as an organically grown index, its leaves evenly filled and in key order)"
            if build_index
            else "indexes in place as the rows went in (grown organically)"
        )
        print(f"  preloaded {args.preload:,} usage rows ({ids}) in {seconds:.1f} s; {how}")
        print(f"  after the preload       {table_sizes(connection)}")
    print(f"  PostgreSQL              {server_memory(connection)}")
    print(
        f"usage ingest on PostgreSQL: {args.events:,} events per run in batches of {BATCH} "
        f"across {HUBS} hubs / {HUBS * NUMBERS_PER_HUB} numbers; {ids}"
    )
    rates = []
    for run, workers in enumerate(args.workers):
        all_events = list(events(numbers, args.events, offset=run * args.events, random_ids=args.random_ids))
        batches = [all_events[i : i + BATCH] for i in range(0, len(all_events), BATCH)]
        with (
            time_machine.travel(dt.datetime(2026, 12, 1, tzinfo=dt.UTC)),
            CaptureQueriesContext(connection) as probe,
        ):
            usage_record_batch(events=batches[0])
        blocks = usage_blocks(connection)
        accepted, elapsed = timed_ingest(batches[1:], workers)
        ingested = len(all_events) - BATCH
        rates.append((workers, ingested / elapsed))
        moved = zip(blocks, usage_blocks(connection), strict=True)
        per = [1000 * (after - before) / ingested for before, after in moved]
        print(
            f"  {workers} process(es): {ingested / elapsed:>8,.0f} ev/s ({accepted:,} accepted in {elapsed:.2f} s; "
            f"{len(probe)} queries per batch)  target >= 10,000"
        )
        print(
            f"    usage table blocks per 1,000 events: indexes {per[0]:,.0f} read into shared_buffers + "
            f"{per[1]:,.0f} found there, heap {per[2]:,.0f} + {per[3]:,.0f}"
        )
    started = time.perf_counter()
    replayed = timed_ingest(batches[1:11], 1)[0]
    print(
        f"  replay of 10 batches:   {10 * BATCH / (time.perf_counter() - started):>8,.0f} events/s checked, "
        f"{replayed} posted again"
    )
    client_ms, server_ms = cpu_split(numbers, random_ids=args.random_ids)
    floor, floor_server_ms = copy_floor(args.events)
    print(f"  floor (bare COPY)       {floor:>8,.0f} rows/s ({args.events:,} rows, copy of the table + indexes)")
    for workers, rate in rates:
        print(f"  ratio, {workers} process(es)    {floor / rate:.1f}x the floor (target <= 2x)")
    if server_ms is not None and floor_server_ms is not None:
        print(
            f"  CPU per 1,000 events    {client_ms:.1f} ms in this process + {server_ms:.1f} ms in PostgreSQL; "
            f"the floor's COPY: {floor_server_ms:.1f} ms in PostgreSQL"
        )
    else:
        print(f"  CPU per 1,000 events    {client_ms:.1f} ms in this process (PostgreSQL's not readable here)")
    profile_batch(numbers, random_ids=args.random_ids)
    print(f"  usage rows              {MessageUsage.objects.count():,}: {table_sizes(connection)}")
    print(f"  peak memory (RSS)       {peak_rss_mib():.0f} MiB (this process)")
    violations = ledger_audit()
    print(f"  billing_audit           {'clean' if not violations else f'{len(violations)} VIOLATIONS'}")


if __name__ == "__main__":
    main()
