"""What the invoicing tests share: usage recorded through the batch service, and the books another code path would
have written (the per-hub and drafts paths the set-based ones must equal)."""

import datetime as dt

import pytest
from django.db import transaction

from billing.usage.ingest import usage_record_batch


def messages(number, count: int, sent_at: dt.datetime, prefix: str, *, billable=True, category="marketing") -> None:
    """`count` messages to Germany from `number`, sent at `sent_at`, each recorded (none rejected)."""
    result = usage_record_batch(
        events=[
            {
                "message_id": f"wamid.{prefix}.{n}",
                "waba_id": number.waba.meta_waba_id,
                "phone_number": number.e164,
                "recipient_country": "DE",
                "category": category,
                "billable": billable,
                "timestamp": sent_at.isoformat(),
            }
            for n in range(count)
        ]
    )
    assert (result.accepted, result.rejected) == (count, [])


class _RolledBack(Exception):
    pass


def written_by_the_other_path(*, module, name: str, other, run, books):
    """What `run()` returns and writes (as `books()` reads it) with `module.name` replaced by `other`, then rolled
    back: the database is as before, ready for the path under test."""
    try:
        with transaction.atomic(), pytest.MonkeyPatch.context() as patch:
            patch.setattr(module, name, other)
            result, written = run(), books()
            raise _RolledBack
    except _RolledBack:
        return result, written
