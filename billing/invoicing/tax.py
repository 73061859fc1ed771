"""VAT of the provider (established in Germany) on what it invoices. DESIGN.md: DE 19%; another EU country with a
VAT ID: 0%, reverse charge; EU without a VAT ID: 19%; outside the EU: 0%, not subject to German VAT."""

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _

from core.company import EU_COUNTRIES

GERMAN_VAT = Decimal("0.19")


@dataclass(frozen=True)
class TaxTreatment:
    rate: Decimal
    label: str
    note: str


def tax_treatment(*, country: str, vat_id: str) -> TaxTreatment:
    if country == "DE":
        return TaxTreatment(GERMAN_VAT, _("VAT 19%"), "")
    if country in EU_COUNTRIES and vat_id:
        return TaxTreatment(
            Decimal(0),
            _("VAT 0% (reverse charge)"),
            _(
                "Reverse charge: VAT to be accounted for by the recipient (Article 196, Council Directive "
                "2006/112/EC). Recipient VAT ID: %(vat_id)s."
            )
            % {"vat_id": vat_id},
        )
    if country in EU_COUNTRIES:
        return TaxTreatment(GERMAN_VAT, _("VAT 19%"), "")
    return TaxTreatment(Decimal(0), _("VAT 0%"), _("Not subject to German VAT: place of supply outside the EU."))
