"""The ledger locks credit accounts in primary-key order (billing/ledger.py `accounts_lock`), whatever order the
postings come in, so two writers touching the same accounts never deadlock."""

import threading
import time

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from djmoney.money import Money

from billing.ledger import Posting, ledger_post_many
from billing.models import CreditAccount, EntryKind, LedgerEntry
from core.clock import now
from tests.factories import HubFactory

pytestmark = pytest.mark.postgres


def funds(account: CreditAccount, key: str) -> Posting:
    return Posting(
        account_id=account.pk, kind=EntryKind.FUNDS_ADDED, amount=Money("1.00", "EUR"), key=key, occurred_at=now()
    )


@pytest.mark.django_db
def test_postings_given_in_reverse_order_lock_the_accounts_in_one_select_ordered_by_id():
    # given three accounts, posted to highest id first
    accounts = sorted((HubFactory().credit_account for _ in range(3)), key=lambda a: a.pk, reverse=True)

    with CaptureQueriesContext(connection) as queries:
        ledger_post_many(postings=[funds(account, f"funds:{account.pk}") for account in accounts])

    # then one SELECT … FOR UPDATE takes them, ordered by id ascending
    table = CreditAccount._meta.db_table
    locks = [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"] and f'FROM "{table}"' in q["sql"]]
    assert len(locks) == 1
    assert locks[0].endswith(f'ORDER BY "{table}"."id" ASC FOR UPDATE')


@pytest.mark.django_db(transaction=True)
def test_a_writer_that_locks_in_id_order_never_deadlocks_with_a_posting_given_in_reverse_order():
    """Writer H holds the lower-id account A; posting P names B then A. Locking in id order, P waits for A holding
    nothing, so H can go on to lock B and commit. Were P to lock B first, H and P would each wait for the other:
    PostgreSQL would end one of them with a deadlock error."""
    low, high = sorted((HubFactory().credit_account for _ in range(2)), key=lambda a: a.pk)
    holding, errors = threading.Event(), []

    def holder() -> None:
        try:
            with transaction.atomic():
                CreditAccount.objects.select_for_update().get(pk=low.pk)
                holding.set()
                _wait_until_a_backend_waits_for_a_lock()
                # P is now waiting; lock B as an id-ordered writer would, after A
                CreditAccount.objects.select_for_update().get(pk=high.pk)
        except BaseException as exc:  # noqa: BLE001 -- reported by the test
            errors.append(exc)
        finally:
            connection.close()

    def poster() -> None:
        try:
            holding.wait(10)
            ledger_post_many(postings=[funds(high, "funds:high"), funds(low, "funds:low")])
        except BaseException as exc:  # noqa: BLE001 -- reported by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=holder), threading.Thread(target=poster)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(LedgerEntry.objects.values_list("idempotency_key", flat=True)) == ["funds:high", "funds:low"]


def _wait_until_a_backend_waits_for_a_lock(timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            # pg_locks, not pg_stat_activity: the statistics views are a snapshot for the whole transaction
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError("the posting never waited for the held account")
