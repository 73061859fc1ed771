"""Meta webhooks through POST /webhooks/meta/ (signature check, JSON, parsing, the usage batch service) on PostgreSQL.

The endpoint stores each signed webhook and answers at once; a drain (billing.meta_webhooks_drain, queued on commit)
rates the inbox in batches of up to 1,000 statuses. Prints, for webhooks carrying one status each (as Meta mostly
sends them) and carrying 100: webhooks accepted per second (and queries per webhook) at the endpoint, then statuses
rated per second through the drain. Compare with bench/usage_ingest.py (the usage-events path).
Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/meta_webhooks.py [--statuses N]
"""

import argparse
import datetime as dt
import hashlib
import hmac
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._setup import bench_django, peak_rss_mib  # noqa: E402

SECRET = "bench-app-secret"  # noqa: S105 -- the benchmark signs its own webhooks
COUNTRY_CODES = ["49", "49", "33", "44", "91", "55", "1", "81", "34", "39", "234", "43"]
CATEGORIES = ["marketing", "marketing", "utility", "authentication", "service"]


def webhook_bodies(numbers, total: int, per_webhook: int, offset: int):
    rng = random.Random(7 + offset)
    start = int(dt.datetime(2026, 11, 1, tzinfo=dt.UTC).timestamp())
    for first in range(offset, offset + total, per_webhook):
        waba_id, phone_number_id = rng.choice(numbers)
        statuses = []
        for i in range(first, min(first + per_webhook, offset + total)):
            category = rng.choice(CATEGORIES)
            statuses.append({
                "id": f"wamid.bench.{i:09d}", "status": rng.choice(["sent", "delivered"]),
                "timestamp": str(start + (i % 300_000) * 7),
                "recipient_id": rng.choice(COUNTRY_CODES) + f"{rng.randrange(10**9, 10**10)}",
                "pricing": {"billable": category != "service", "pricing_model": "PMP", "category": category,
                            "type": "regular" if category != "service" else "free_customer_service"},
            })  # fmt: skip
        body = json.dumps(
            {
                "object": "whatsapp_business_account",
                "entry": [
                    {
                        "id": waba_id,
                        "changes": [
                            {
                                "field": "messages",
                                "value": {
                                    "messaging_product": "whatsapp",
                                    "metadata": {
                                        "display_phone_number": "15550783881",
                                        "phone_number_id": phone_number_id,
                                    },
                                    "statuses": statuses,
                                },
                            }
                        ],
                    }
                ],
            }
        )
        yield body.encode(), "sha256=" + hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--statuses", type=int, default=20_000)
    args = parser.parse_args()
    bench_django("hubportal_bench_meta_webhooks")
    from django.conf import settings

    from config.celery_app import app

    app.conf.update(task_always_eager=False, broker_url="memory://localhost/")
    settings.META_APP_SECRET = SECRET
    settings.ALLOWED_HOSTS = ["*"]
    import time_machine
    from django.db import connection
    from django.test import Client

    from bench.usage_ingest import build_world
    from billing.audit import ledger_audit
    from billing.models import MessageUsage
    from billing.usage.meta_webhooks import meta_webhooks_drain
    from hub.models import PhoneNumber

    build_world()
    for number in PhoneNumber.objects.all():
        number.meta_phone_number_id = number.e164.lstrip("+")
        number.save(update_fields=["meta_phone_number_id"])
    numbers = list(PhoneNumber.objects.values_list("waba__meta_waba_id", "meta_phone_number_id"))
    client = Client()
    print(f"Meta webhooks on PostgreSQL through POST /webhooks/meta/: {args.statuses:,} statuses per run")
    for run, per_webhook in enumerate((1, 100)):
        bodies = list(webhook_bodies(numbers, args.statuses, per_webhook, offset=run * args.statuses))
        with time_machine.travel(dt.datetime(2026, 12, 1, tzinfo=dt.UTC)):
            # Counted by an execute wrapper: Django's request_started signal resets connection.queries, which
            # makes CaptureQueriesContext read 0 around a test Client request.
            probe: list[str] = []

            def count(execute, sql, params, many, context, probe=probe):
                probe.append(sql)
                return execute(sql, params, many, context)

            with connection.execute_wrapper(count):
                client.post("/webhooks/meta/", bodies[0][0], content_type="application/json",
                            HTTP_X_HUB_SIGNATURE_256=bodies[0][1])  # fmt: skip
            started = time.perf_counter()
            for body, signature in bodies[1:]:
                response = client.post("/webhooks/meta/", body, content_type="application/json",
                                       HTTP_X_HUB_SIGNATURE_256=signature)  # fmt: skip
                assert response.status_code == 200, response.content
            elapsed = time.perf_counter() - started
            accepted = (len(bodies) - 1) / elapsed
            started = time.perf_counter()
            batches = 0
            while meta_webhooks_drain():
                batches += 1
            drained = time.perf_counter() - started
        print(
            f"  {per_webhook:>3} status(es) per webhook: {accepted:>8,.0f} webhooks accepted/s "
            f"({len(bodies) - 1:,} webhooks in {elapsed:.2f} s; {len(probe)} queries per webhook); "
            f"drain {args.statuses / drained:>8,.0f} statuses rated/s ({batches} batches in {drained:.2f} s)"
        )
    print(f"  usage rows              {MessageUsage.objects.count():,}")
    print(f"  peak memory (RSS)       {peak_rss_mib():.0f} MiB (this process)")
    violations = ledger_audit()
    print(f"  billing_audit           {'clean' if not violations else f'{len(violations)} VIOLATIONS'}")


if __name__ == "__main__":
    main()
