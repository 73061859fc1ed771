"""The ledger's references, said in the reader's language. The ledger is immutable and stores its references in
English ("317 messages", "Usage rounded to the cent, November 2026"); pages translate the known shapes at display
time and show any other reference (an invoice number, a Stripe id, Meta's WABA and day) as stored."""

import datetime as dt
import re

from django.utils.translation import gettext, ngettext

from billing import formats

_MESSAGES = re.compile(r"(\d+) messages?")
_ROUNDING = re.compile(r"Usage rounded to the cent, ([A-Z][a-z]+) (\d{4})")
_STAFF = re.compile(r"staff action by (.+)", re.DOTALL)
_MONTHS = {dt.date(2000, m, 1).strftime("%B"): m for m in range(1, 13)}  # the C locale's English names, as written


def ledger_reference_text(reference: str) -> str:
    """`reference` in the active language when it has one of the shapes the ledger writes, else unchanged."""
    if match := _MESSAGES.fullmatch(reference):
        count = int(match[1])
        return ngettext("%(count)s message", "%(count)s messages", count) % {"count": formats.number(count)}
    if (match := _ROUNDING.fullmatch(reference)) and match[1] in _MONTHS:
        month = formats.month(dt.date(int(match[2]), _MONTHS[match[1]], 1))
        return gettext("Usage rounded to the cent, %(month)s") % {"month": month}
    if match := _STAFF.fullmatch(reference):
        return gettext("staff action by %(user)s") % {"user": match[1]}
    return reference
