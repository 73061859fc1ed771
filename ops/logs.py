"""Structured logs: one JSON object per line, with the request id, hub id and invoice number of the context
(ops/context.py) when there is one. Production's LOGGING uses them (config/settings/production.py)."""

import datetime as dt
import json
import logging

from ops import context

RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class ContextFilter(logging.Filter):
    """Puts the context's request id, hub id and invoice number on every record (an `extra=` value wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in context.current().items():
            if not getattr(record, name, ""):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """{"time", "level", "logger", "message", "request_id"?, "hub_id"?, "invoice_number"?, other extras?,
    "exception"?}: empty context fields are left out; extras that are not JSON are written as strings."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in RESERVED and not name.startswith("_") and value not in ("", None):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)
