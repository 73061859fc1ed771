"""Running work on several threads at once, each with its own database connection (PostgreSQL row-lock tests)."""

import threading

from django.db import connection


def run_concurrently(work, count: int) -> list[BaseException]:
    """Start `count` threads together (a barrier) calling work(worker number); return what they raised."""
    barrier, errors = threading.Barrier(count), []

    def runner(worker: int) -> None:
        try:
            barrier.wait()
            work(worker)
        except BaseException as exc:  # noqa: BLE001 -- reported by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors
