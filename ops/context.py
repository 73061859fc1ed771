"""What a log line is about: the request id (X-Request-ID), the hub and the invoice, kept in context variables so
every log record made while handling a request or a task carries them (`ContextFilter`), without passing them
down every call."""

import contextlib
import contextvars
import re
import uuid
from collections.abc import Iterator

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
hub_id: contextvars.ContextVar[str] = contextvars.ContextVar("hub_id", default="")
invoice_number: contextvars.ContextVar[str] = contextvars.ContextVar("invoice_number", default="")

FIELDS = {"request_id": request_id, "hub_id": hub_id, "invoice_number": invoice_number}
# A request id from outside (the load balancer, the messaging platform) is kept when it looks like one; anything
# else (too long, odd characters that could forge log lines) is replaced by a new one.
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_from(header: str | None) -> str:
    return header if header and REQUEST_ID.fullmatch(header) else uuid.uuid4().hex


@contextlib.contextmanager
def bound(**values: str) -> Iterator[None]:
    """Set some of request_id / hub_id / invoice_number for the block, then restore what was there."""
    tokens = [(FIELDS[name], FIELDS[name].set(str(value))) for name, value in values.items() if value]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current() -> dict[str, str]:
    return {name: var.get() for name, var in FIELDS.items()}


def clear(**kwargs) -> None:
    """Forget the context (also a `request_finished` receiver): the thread's next request starts clean."""
    for var in FIELDS.values():
        var.set("")
