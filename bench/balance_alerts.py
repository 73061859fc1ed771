"""What the low-balance and run-out detection costs on the ledger's hot path.

Posts usage batches (one USAGE entry per hub per batch, as ingestion does) to 500 hubs, three ways: no alert set,
every hub with a low-balance alert it does not cross, and a batch in which every hub crosses its alert. Prints
milliseconds and queries per batch for each (the crossing batch's queries include its alert emails when Celery runs
eagerly, as with the test settings used here).
Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/balance_alerts.py [--batches N]
"""

import argparse
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._setup import bench_django  # noqa: E402

HUBS = 500


def build_world() -> list[int]:
    from djmoney.money import Money

    from billing import clock
    from billing.ledger import Posting, ledger_post_many  # noqa: I001
    from billing.models import EntryKind
    from billing.onboarding import hub_open
    from clients.models import Client
    from partners.models import Partner, Plan

    partner = Partner.objects.create(name="Bench", company_name="Bench GmbH", country="DE", currency="EUR",
                                     billing_email="b@bench.example", plan=Plan.objects.get(code="growth"))  # fmt: skip
    accounts = []
    for h in range(HUBS):
        client = Client.objects.create(partner=partner, company_name=f"Client {h}", country="DE",
                                       billing_email=f"c{h}@bench.example")  # fmt: skip
        accounts.append(hub_open(client=client, name=f"Hub {h}").credit_account.id)
    ledger_post_many(postings=[
        Posting(account_id=a, kind=EntryKind.FUNDS_ADDED, amount=Money("1000.00", "EUR"), key=f"funds:{a}",
                occurred_at=clock.now())
        for a in accounts
    ])  # fmt: skip
    return accounts


def run(accounts: list[int], batches: int, label: str, start: int) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from djmoney.money import Money

    from billing import clock
    from billing.ledger import Posting, ledger_post_many
    from billing.models import EntryKind

    elapsed, queries = 0.0, 0
    for b in range(start, start + batches):
        postings = [Posting(account_id=a, kind=EntryKind.USAGE, amount=Money("-0.013500", "EUR"),
                            key=f"usage:{a}:{b}", occurred_at=clock.now()) for a in accounts]  # fmt: skip
        with CaptureQueriesContext(connection) as captured:
            began = time.perf_counter()
            ledger_post_many(postings=postings)
            elapsed += time.perf_counter() - began
        queries += len(captured)
    print(f"{label:<48} {elapsed / batches * 1000:8.1f} ms/batch {queries / batches:6.1f} queries/batch")
    return start + batches


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=40)
    args = parser.parse_args()
    bench_django("bench_balance_alerts")
    from billing.models import CreditAccount

    accounts = build_world()
    print(f"{HUBS} hubs, one USAGE entry per hub per batch")
    next_batch = run(accounts, args.batches, "no alert set", 0)
    CreditAccount.objects.update(low_balance_alert=Decimal("10.00"))
    next_batch = run(accounts, args.batches, "every hub with an alert it does not cross", next_batch)
    CreditAccount.objects.update(low_balance_alert=None)
    next_batch = run(accounts, args.batches, "no alert set (again: the ledger has grown)", next_batch)
    balance = CreditAccount.objects.values_list("balance", flat=True).first()
    CreditAccount.objects.update(low_balance_alert=balance.quantize(Decimal("0.01")))  # the next debit crosses it
    run(accounts, 1, "every hub crossing its alert (one batch)", next_batch)


if __name__ == "__main__":
    main()
