"""The VAT category (EN 16931 BT-118, UNTDID 5305) of each tax case the portal applies (billing/invoicing/tax.py),
read from the invoice as issued: its tax rate and the billed company's snapshot.

- S (standard rate 19 %): a German buyer, or an EU buyer without a VAT ID.
- AE (VAT reverse charge, VATEX-EU-AE): an EU buyer outside Germany with a VAT ID. BR-AE-02 wants the seller's and
  the buyer's VAT ID, BR-AE-10 the exemption reason.
- O (services outside scope of tax, VATEX-EU-O): a buyer outside the EU. A B2B service's place of supply is where
  the buyer is established (§ 3a (2) UStG, Art. 44 of the VAT Directive): the supply is not taxable in Germany at
  all. 'G' (free export item) is the exemption of an export *of goods* (§ 4 No. 1a / § 6 UStG) and would state a
  legal basis that does not apply; 'E' is an exemption of a taxable supply, which this is not either. 'O' is the
  category the rules define for it; BR-O-02 then forbids the seller's and the buyer's VAT IDs in the XML (the
  seller is identified by its tax number, BT-32, and its commercial register entry, BT-30, per BR-CO-26), and
  BR-O-11 allows no other category on the document.
"""

from dataclasses import dataclass
from decimal import Decimal

from core.company import EU_COUNTRIES


@dataclass(frozen=True)
class TaxCase:
    category: str  # BT-118 / BT-151
    rate_percent: Decimal | None  # BT-119 / BT-152; None where the rules forbid a rate (category O)
    exemption_code: str  # BT-121
    carries_vat_ids: bool  # seller BT-31 and buyer BT-48 may (and for AE must) be present

    @property
    def rate(self) -> Decimal:
        return (self.rate_percent or Decimal(0)) / 100


STANDARD = "S"
REVERSE_CHARGE = "AE"
NOT_SUBJECT = "O"


def tax_case_of(*, tax_rate: Decimal, country: str, vat_id: str) -> TaxCase:
    if tax_rate > 0:
        return TaxCase(STANDARD, (tax_rate * 100).quantize(Decimal("0.01")), "", True)
    if country in EU_COUNTRIES and country != "DE" and vat_id:
        return TaxCase(REVERSE_CHARGE, Decimal("0.00"), "VATEX-EU-AE", True)
    return TaxCase(NOT_SUBJECT, None, "VATEX-EU-O", False)


def invoice_tax_case(invoice) -> TaxCase:
    company = invoice.billed_company or {}
    return tax_case_of(tax_rate=invoice.tax_rate, country=company.get("country", ""), vat_id=company.get("vat_id", ""))
