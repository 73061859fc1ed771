"""Structured logs: the JSON formatter's exact output, the request id taken from X-Request-ID (or made) and sent
back, the hub id and invoice number of the URL on the request's log lines, and production's LOGGING using them."""

import json
import logging
import re

import pytest

from ops import context
from ops.logs import ContextFilter, JsonFormatter
from tests.factories import UserFactory
from tests.test_settings import SECRET_KEY, production

pytestmark = pytest.mark.django_db


def record(message="Invoice %s emailed", args=("INV-2026-000042",), **extra) -> logging.LogRecord:
    made = logging.makeLogRecord({"name": "billing.tasks", "levelno": logging.INFO, "levelname": "INFO",
                                  "msg": message, "args": args, "created": 1795000000.25, **extra})  # fmt: skip
    ContextFilter().filter(made)
    return made


def test_a_record_is_one_json_object_with_the_context():
    with context.bound(request_id="req-1", hub_id="HUB-AAAA2222", invoice_number="INV-2026-000042"):
        line = JsonFormatter().format(record())

    assert json.loads(line) == {
        "time": "2026-11-18T11:06:40.250+00:00", "level": "INFO", "logger": "billing.tasks",
        "message": "Invoice INV-2026-000042 emailed", "request_id": "req-1", "hub_id": "HUB-AAAA2222",
        "invoice_number": "INV-2026-000042",
    }  # fmt: skip


def test_empty_context_is_left_out_an_extra_wins_and_an_exception_is_kept():
    try:
        raise ValueError("card declined")
    except ValueError:
        import sys

        made = record(message="charge failed", args=(), exc_info=sys.exc_info(), hub_id="HUB-BBBB3333", attempt=7)
    entry = json.loads(JsonFormatter().format(made))

    assert {k: v for k, v in entry.items() if k not in ("time", "exception")} == {
        "level": "INFO", "logger": "billing.tasks", "message": "charge failed", "hub_id": "HUB-BBBB3333", "attempt": 7,
    }  # fmt: skip
    assert entry["exception"].startswith("Traceback") and entry["exception"].endswith("ValueError: card declined")


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []
        self.addFilter(ContextFilter())
        self.setFormatter(JsonFormatter())

    def emit(self, made):
        self.lines.append(json.loads(self.format(made)))


@pytest.fixture
def request_log():
    handler = Lines()
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)


def test_the_callers_request_id_is_kept_sent_back_and_logged_with_the_hub_of_the_url(client, request_log):
    response = client.get("/api/v1/hubs/HUB-ZZZZ9999/send-permission", HTTP_X_REQUEST_ID="lb-7f3a9c")

    assert response.status_code == 401 and response["X-Request-ID"] == "lb-7f3a9c"
    (line,) = request_log
    assert (line["request_id"], line["hub_id"], line["level"]) == ("lb-7f3a9c", "HUB-ZZZZ9999", "WARNING")
    assert context.current() == {"request_id": "", "hub_id": "", "invoice_number": ""}  # nothing leaks


def test_the_invoice_number_of_the_url_is_logged(client, request_log):
    client.force_login(UserFactory(username="nobody"))
    response = client.get("/client/invoices/INV-2026-000099/")

    assert response.status_code in (403, 404)
    assert request_log[-1]["invoice_number"] == "INV-2026-000099"
    assert re.fullmatch(r"[0-9a-f]{32}", request_log[-1]["request_id"])


@pytest.mark.parametrize("given", [None, "", "x" * 129, "bad id\nwith a forged line"])
def test_a_missing_or_odd_request_id_is_replaced_by_a_new_one(client, given):
    headers = {} if given is None else {"HTTP_X_REQUEST_ID": given}
    response = client.get("/login/", **headers)

    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_production_logs_json_lines_with_the_context():
    code = "\n".join([
        "import logging; from ops import context",
        "with context.bound(request_id='req-prod-1', invoice_number='INV-2026-000007'):",
        "    logging.getLogger('billing.tasks').warning('PDF stored', extra={'hub_id': 'HUB-CCCC4444'})",
    ])  # fmt: skip
    result = production("shell", "-c", code, DJANGO_SECRET_KEY=SECRET_KEY, DATABASE_URL="postgres://u@127.0.0.1/x")

    assert result.returncode == 0, result.stderr
    (line,) = [json.loads(text) for text in result.stderr.splitlines() if "PDF stored" in text]
    assert {k: v for k, v in line.items() if k != "time"} == {
        "level": "WARNING", "logger": "billing.tasks", "message": "PDF stored", "request_id": "req-prod-1",
        "hub_id": "HUB-CCCC4444", "invoice_number": "INV-2026-000007",
    }  # fmt: skip
