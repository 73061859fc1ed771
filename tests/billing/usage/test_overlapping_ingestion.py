"""Overlapping ingestion is quiet (issue 10, edge 5): processes importing files that share message ids, and API
calls posting the same batch at the same moment, all succeed; each message is recorded and debited once and the
rest are counted as duplicates — no deadlock, IntegrityError or 500. Real processes and real connections on
PostgreSQL."""

import datetime as dt
import json
import os
import random
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from djmoney.money import Money

from api.keys import api_key_create
from billing.audit import ledger_audit
from billing.ledger import ledger_post
from billing.models import CreditAccount, EntryKind, MessageUsage, RateCardRate
from tests.concurrency import run_concurrently
from tests.factories import PhoneNumberFactory, WabaFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RATE = Decimal("0.071200")
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def number():
    RateCardRate.objects.create(effective_date=dt.date(2020, 1, 1), currency="EUR", market="DE",
                                category="utility", rate=RATE)  # fmt: skip
    number = PhoneNumberFactory(e164="+4915112340000", waba=WabaFactory(meta_waba_id="555000111"))
    account = CreditAccount.objects.get(hub=number.waba.hub)
    ledger_post(account=account, kind=EntryKind.FUNDS_ADDED, amount=Money("1000.00", "EUR"), key="open")
    return number


def events(ids, number) -> list[dict]:
    sent = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()
    return [
        {"message_id": f"wamid.overlap.{n}", "waba_id": number.waba.meta_waba_id, "phone_number": number.e164,
         "recipient_country": "DE", "category": "utility", "billable": True, "timestamp": sent}
        for n in ids
    ]  # fmt: skip


def test_three_processes_importing_files_that_share_message_ids(number, tmp_path):
    rng = random.Random(7)
    files = []
    for k in range(3):  # ids 0..599, 200..799, 400..999, each file in its own order
        ids = list(range(k * 200, k * 200 + 600))
        rng.shuffle(ids)
        path = tmp_path / f"usage-{k}.jsonl"
        path.write_text("\n".join(json.dumps(e) for e in events(ids, number)) + "\n")
        files.append(path)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test",
           "DATABASE_URL": _database_url()}  # fmt: skip

    processes = [
        subprocess.Popen([sys.executable, "manage.py", "import_usage", str(path), "--batch-size", "40"], cwd=ROOT,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for path in files
    ]  # fmt: skip
    outcomes = [(p.wait(timeout=300), *p.communicate()) for p in processes]

    assert [code for code, _, _ in outcomes] == [0, 0, 0], [err[-600:] for _, _, err in outcomes]
    totals = [_summary(out) for _, out, _ in outcomes]
    assert sum(t[0] for t in totals) == 1000  # each message accepted by exactly one process
    assert sum(t[1] for t in totals) == 800  # the overlaps, counted as duplicates
    assert sum(t[2] for t in totals) == 0
    assert MessageUsage.objects.count() == 1000
    account = CreditAccount.objects.get(hub=number.waba.hub)
    assert account.balance == Decimal("1000.00") - 1000 * RATE
    assert ledger_audit() == []


def test_three_api_calls_posting_the_same_batch_at_the_same_moment(number, live_server):
    import requests

    token = api_key_create(name="Platform")[1]
    batch = events(range(300), number)
    answers = []

    def post(worker: int) -> None:
        response = requests.post(f"{live_server.url}/api/v1/usage-events", json={"events": batch}, timeout=120,
                                 headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        answers.append((response.status_code, response.json()))

    assert run_concurrently(post, 3) == []

    assert sorted(code for code, _ in answers) == [200, 200, 200], answers
    assert sorted(body["accepted"] for _, body in answers) == [0, 0, 300]
    assert sorted(body["duplicates"] for _, body in answers) == [0, 300, 300]
    assert MessageUsage.objects.count() == 300
    assert CreditAccount.objects.get(hub=number.waba.hub).balance == Decimal("1000.00") - 300 * RATE


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _summary(stdout: str) -> tuple[int, int, int]:
    line = stdout.strip().splitlines()[-1]  # "N accepted, N duplicate, N rejected."
    accepted, duplicates, rejected = (int(part.split()[0]) for part in line.split(", "))
    return accepted, duplicates, rejected

