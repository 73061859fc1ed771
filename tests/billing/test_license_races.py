"""Two jobs billing the same new number at once, on PostgreSQL with real row locks: it is billed once."""

import datetime as dt
import threading
import time

import pytest
from django.db import connection

from billing.invoicing import licenses
from billing.models import InvoiceLine
from tests.factories import PhoneNumberFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_the_sweep_and_the_onboarding_task_racing_bill_a_number_once(monkeypatch):
    number = PhoneNumberFactory(onboarded_at=utc(2026, 11, 15, 10))
    build_drafts = licenses._new_number_drafts
    first = threading.Event()

    def slow_first_reader(groups):
        # The first job to read the unlicensed numbers pauses before issuing, so the other job reads meanwhile.
        if not first.is_set():
            first.set()
            time.sleep(0.5)
        return build_drafts(groups)

    monkeypatch.setattr(licenses, "_new_number_drafts", slow_first_reader)
    jobs = [
        lambda: licenses.new_numbers_sweep(day=dt.date(2026, 11, 16), issued_at=utc(2026, 11, 16, 0, 5)),
        lambda: licenses.new_numbers_issue(
            day=dt.date(2026, 11, 15), issued_at=utc(2026, 11, 16, 0, 5), hub_ids=[number.waba.hub_id]
        ),
    ]
    errors = []

    def run(job):
        try:
            job()
        except Exception as exc:  # noqa: BLE001 -- reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    threads[0].start()
    while not first.is_set():
        time.sleep(0.01)
    threads[1].start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert InvoiceLine.objects.filter(details__number=number.e164).count() == 1
