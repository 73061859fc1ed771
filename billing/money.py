"""Rounding rules: every figure printed on an invoice is rounded half-up to cents; rates and usage keep 6 places."""

import re
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
MICRO = Decimal("0.000001")


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def micros(amount: Decimal) -> Decimal:
    return amount.quantize(MICRO, rounding=ROUND_HALF_UP)


def is_cents(amount: Decimal) -> bool:
    return amount == amount.quantize(CENT)


# Plain decimal notation in ASCII digits: "50", "50.00", "-0.5". Python's Decimal() also takes "1e3", " 50 ", "NaN"
# and Arabic-Indic or other Unicode digits; a money field written so is a mistake or a probe, and is refused.
PLAIN_DECIMAL = re.compile(r"-?[0-9]{1,30}(?:\.[0-9]{1,30})?")


def decimal_plain(text: str) -> Decimal | None:
    """The amount written in plain decimal notation, or None when `text` is anything else."""
    if not isinstance(text, str) or not PLAIN_DECIMAL.fullmatch(text):
        return None
    return Decimal(text)
