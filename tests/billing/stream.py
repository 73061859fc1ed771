"""What the send-permission stream tests share (the API's feed and the platform webhooks): the moment they run at,
a depleted hub's reason as the stream carries it, and a clean stream on real Redis (REDIS_URL) around a test."""

import datetime as dt

import pytest
import time_machine

from billing import send_permission_stream as stream

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
DEPLETED = {
    "reason": "CREDIT_BALANCE_DEPLETED",
    "detail": "Credit balance 0.00 EUR",
    "since": "2026-11-22T12:00:00+00:00",
}


@pytest.fixture
def redis_stream():
    """The stream's Redis client, emptied before and after the test, with the clock at NOW (tests/conftest.py
    offers it everywhere; the stream test modules use it for every test)."""
    with time_machine.travel(NOW, tick=False):
        client = stream.stream_client()
        client.delete(stream.STREAM_KEY, stream.SEQ_KEY)
        yield client
        client.delete(stream.STREAM_KEY, stream.SEQ_KEY)
