"""The record of each billing day's run: beat's fan-out is finished when its last chunk is; the duration is from the
run's start to that chunk's end."""

import datetime as dt

import pytest
import time_machine

from billing.billing_runs import billing_run_begin, billing_run_chunk_done, billing_run_finish
from billing.models import BillingRun
from billing.tasks import billing_day_task
from tests.factories import PhoneNumberFactory

pytestmark = pytest.mark.django_db

DEC_1 = dt.datetime(2026, 12, 1, 0, 5, tzinfo=dt.UTC)


def test_beats_run_counts_its_chunks_and_the_invoices_they_issued():
    with time_machine.travel(DEC_1, tick=False):
        PhoneNumberFactory(e164="+4915100000003", onboarded_at=dt.datetime(2026, 10, 5, tzinfo=dt.UTC))
        PhoneNumberFactory(e164="+4915100000004", onboarded_at=dt.datetime(2026, 10, 6, tzinfo=dt.UTC))
        billing_day_task.delay("2026-12-01")  # eager in tests: the chunks run inside

    run = BillingRun.objects.get()
    # licenses, month closing and partner plans: one chunk each (two hubs, two partners fit in one)
    assert (run.source, run.chunks_total, run.chunks_done, run.issued) == ("beat", 3, 3, 4)
    assert run.expected == {"LICENSE": 2, "MONTH_CLOSING": 0, "PARTNER_PLAN": 2}
    assert run.finished and run.duration == dt.timedelta(0)


def test_a_fanned_out_run_is_unfinished_until_its_last_chunk_and_lasts_until_then():
    with time_machine.travel(DEC_1, tick=False) as clock:
        run = billing_run_begin(day=DEC_1.date(), jobs=["licenses"], source="beat", at=DEC_1)
        billing_run_finish(run=run, issued=0, chunks_total=2)
        clock.move_to(DEC_1 + dt.timedelta(minutes=3))
        billing_run_chunk_done(day=DEC_1.date(), issued=5)
        run.refresh_from_db()
        assert not run.finished and run.duration is None
        clock.move_to(DEC_1 + dt.timedelta(minutes=7, seconds=30))
        billing_run_chunk_done(day=DEC_1.date(), issued=4)

    run.refresh_from_db()
    assert run.finished and run.duration == dt.timedelta(minutes=7, seconds=30) and run.issued == 9
