"""The send decision pushed to the platform: delay from a money event's commit to the change being readable on
the Redis Stream (billing.send_permission_stream), p50/p99/max, against PostgreSQL and a real Redis.

A writer thread alternates, per hub, a usage debit that takes the balance to 0.00 (the block starts) and a
top-up that lifts it (ledger_post, each its own transaction); the moment it commits is taken by an on_commit
callback registered before the money moves (callbacks run in order, so it runs first). A reader thread blocks on
XREAD like the platform would and stamps each entry when it arrives. Target p99 < 1 s.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hp_perf REDIS_URL=redis://127.0.0.1:6379/12 \
    .venv/bin/python bench/send_permission_stream.py [--hubs 50] [--changes 2000]

Uses its own database (hubportal_bench_stream_<your database>), dropped at the end, and the stream keys on
REDIS_URL's database, deleted before and after.
"""

import argparse
import os
import statistics
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._setup import bench_django  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hubs", type=int, default=50)
    parser.add_argument("--changes", type=int, default=2000)
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL"):
        sys.exit("Set REDIS_URL (a Redis database of your own): the stream lives there.")
    db_name = bench_django("hubportal_bench_stream")
    from django.db import connections, transaction
    from djmoney.money import Money

    from billing import send_permission_stream as stream
    from billing.ledger import ledger_post
    from billing.models import EntryKind
    from tests.factories import HubFactory

    client = stream.stream_client()
    client.delete(stream.STREAM_KEY, stream.SEQ_KEY)
    hubs = [HubFactory() for _ in range(args.hubs)]
    start_seq = int(client.get(stream.SEQ_KEY) or 0)
    committed: dict[tuple[str, bool], list[float]] = {}
    arrived: list[tuple[str, bool, float]] = []
    done = threading.Event()

    def reader() -> None:
        last = f"{start_seq}-0"
        own = stream.redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
        while not done.is_set() or len(arrived) < args.changes:
            for _, entries in own.xread({stream.STREAM_KEY: last}, block=500, count=1000) or []:
                now = time.time()
                for entry_id, fields in entries:
                    last = entry_id
                    arrived.append((fields["hub_id"], fields["allowed"] == "1", now))
            if done.is_set() and time.time() > deadline:
                break

    deadline = float("inf")
    thread = threading.Thread(target=reader)
    thread.start()
    begin = time.perf_counter()
    for n in range(args.changes):
        hub = hubs[n % len(hubs)]
        funding = (n // len(hubs)) % 2 == 0  # first round lifts the blocks of new hubs, the next blocks again
        with transaction.atomic():
            transaction.on_commit(lambda h=hub.hub_id, a=funding: committed.setdefault((h, a), []).append(time.time()))
            amount = Money(Decimal("1.00") if funding else Decimal("-1.00"), "EUR")
            kind = EntryKind.FUNDS_ADDED if funding else EntryKind.USAGE
            ledger_post(account=hub.credit_account, kind=kind, amount=amount, key=f"bench-{n}")
    elapsed = time.perf_counter() - begin
    deadline = time.time() + 10
    done.set()
    thread.join()
    # pair each arrival with the commit of the same hub and direction, in order
    queues = {key: list(times) for key, times in committed.items()}
    delays = []
    for hub_id, allowed, at in arrived:
        times = queues.get((hub_id, allowed))
        if times:
            delays.append(at - times.pop(0))
    delays.sort()
    missing = args.changes - len(delays)
    p = lambda q: delays[min(len(delays) - 1, int(q * len(delays)))] * 1000  # noqa: E731
    print(
        f"{args.changes} money events that flip a hub's permission ({args.hubs} hubs) in {elapsed:.1f} s "
        f"({args.changes / elapsed:.0f}/s, one writer)"
    )
    print(
        f"commit → readable on the stream: p50 {p(0.5):.2f} ms, p99 {p(0.99):.2f} ms, max {delays[-1] * 1000:.2f} ms, "
        f"mean {statistics.fmean(delays) * 1000:.2f} ms (target p99 < 1000 ms); {missing} not seen"
    )
    client.delete(stream.STREAM_KEY, stream.SEQ_KEY)
    connections.close_all()
    import psycopg

    from bench._setup import admin_url

    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
