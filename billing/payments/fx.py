"""BRL amounts for PIX and Boleto vouchers, at the rates staff keep in admin (djmoney's exchange Rate rows: one
backend per source currency, whose base is that currency, holding its BRL rate)."""

from decimal import Decimal

from djmoney.contrib.exchange.exceptions import MissingRate
from djmoney.contrib.exchange.models import convert_money, get_rate
from djmoney.money import Money

from billing.money import cents
from billing.payments.errors import PaymentRefused

VOUCHER_CURRENCY = "BRL"
# Exchange backend (created by billing's migration) holding each currency's rate to BRL.
BRL_RATE_BACKENDS = {"EUR": "staff-eur", "USD": "staff-usd"}


def brl_quote(*, amount: Decimal, currency: str) -> tuple[Decimal, Decimal]:
    """(amount in BRL rounded half-up to centavos, the rate used)."""
    backend = BRL_RATE_BACKENDS.get(currency)
    if backend is None:
        raise PaymentRefused(f"Vouchers in BRL can be issued for EUR or USD amounts, not {currency}.")
    try:
        rate = Decimal(get_rate(currency, VOUCHER_CURRENCY, backend=backend))
        converted = convert_money(Money(amount, currency), VOUCHER_CURRENCY, backend=backend)
    except MissingRate as missing:
        raise PaymentRefused(
            f"No {currency}→BRL exchange rate is set, so no BRL voucher can be issued. Staff set it in admin under "
            f"Exchange rates (backend {backend}, currency BRL)."
        ) from missing
    if rate <= 0:
        raise PaymentRefused(f"The {currency}→BRL exchange rate ({rate}) must be positive; staff correct it in admin.")
    return cents(converted.amount), rate
