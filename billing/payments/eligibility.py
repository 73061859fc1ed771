"""Who may pay with what: data, in one place (the seeds' "Payment Methods & Fees").

Card for clients and partners, with the 4% transaction fee (the invoicing engine adds the fee line when a party's
first saved method is a card); PIX and Boleto for partners in Brazil only, without fee, as vouchers in BRL at the
staff-kept rate.
"""

from dataclasses import dataclass

from billing.models import PaymentMethodKind
from billing.payments.errors import PaymentRefused
from billing.payments.parties import Party, party_kind


@dataclass(frozen=True)
class MethodRule:
    label: str
    parties: tuple[str, ...]  # "client", "partner"
    countries: dict[str, str] | None  # ISO code → name; None: any country
    transaction_fee: bool
    charged_in: str | None  # None: the invoice's currency; else the vouchers' currency
    automatic: bool  # can be charged off-session without the payer
    refundable: bool  # Stripe can give the money back through it


ELIGIBILITY: dict[str, MethodRule] = {
    PaymentMethodKind.CARD: MethodRule(
        label="Card", parties=("client", "partner"), countries=None, transaction_fee=True, charged_in=None,
        automatic=True, refundable=True,
    ),
    PaymentMethodKind.PIX: MethodRule(
        label="PIX", parties=("partner",), countries={"BR": "Brazil"}, transaction_fee=False, charged_in="BRL",
        automatic=False, refundable=True,
    ),
    PaymentMethodKind.BOLETO: MethodRule(
        label="Boleto", parties=("partner",), countries={"BR": "Brazil"}, transaction_fee=False, charged_in="BRL",
        automatic=False, refundable=False,
    ),
}  # fmt: skip
PARTY_PLURAL = {"client": "clients", "partner": "partners"}


def method_check(*, kind: str, party: Party) -> MethodRule:
    """The method's rule, or PaymentRefused saying who may use it."""
    rule = ELIGIBILITY.get(kind)
    if rule is None:
        raise PaymentRefused(f"Unknown payment method {kind!r}; expected one of: {', '.join(ELIGIBILITY)}.")
    who = " and ".join(PARTY_PLURAL[p] for p in rule.parties)
    if party_kind(party) not in rule.parties:
        raise PaymentRefused(f"{rule.label} is available to {who} only.")
    if rule.countries is not None and party.country not in rule.countries:
        raise PaymentRefused(f"{rule.label} is available to {who} in {' and '.join(rule.countries.values())} only.")
    return rule
