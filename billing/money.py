"""Rounding rules: every figure printed on an invoice is rounded half-up to cents; rates and usage keep 6 places."""

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
MICRO = Decimal("0.000001")


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def micros(amount: Decimal) -> Decimal:
    return amount.quantize(MICRO, rounding=ROUND_HALF_UP)


def is_cents(amount: Decimal) -> bool:
    return amount == amount.quantize(CENT)
