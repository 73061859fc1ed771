"""The seller of every document: the provider, from settings. The PDF prints and the e-invoice carries the same
details (EN 16931 BG-4 Seller, BG-5 address, BG-6 contact, BG-17 the account a transfer is paid to)."""

from dataclasses import dataclass

from django.conf import settings

from billing.markets import COUNTRY_NAMES


@dataclass(frozen=True)
class Seller:
    name: str
    street: str
    postal_code: str
    city: str
    country: str  # ISO 3166-1 alpha-2
    vat_id: str
    tax_number: str
    registration_id: str
    contact_name: str
    contact_phone: str
    contact_email: str
    iban: str
    bic: str
    bank_name: str

    @property
    def address_lines(self) -> list[str]:
        return [self.street, f"{self.postal_code} {self.city}", COUNTRY_NAMES.get(self.country, self.country)]

    @property
    def address(self) -> str:
        return ", ".join(self.address_lines)

    @property
    def iban_display(self) -> str:
        """The IBAN in groups of four, as printed."""
        return " ".join(self.iban[i : i + 4] for i in range(0, len(self.iban), 4))


def seller() -> Seller:
    return Seller(
        name=settings.PROVIDER_NAME, street=settings.PROVIDER_STREET, postal_code=settings.PROVIDER_POSTAL_CODE,
        city=settings.PROVIDER_CITY, country=settings.PROVIDER_COUNTRY, vat_id=settings.PROVIDER_VAT_ID,
        tax_number=settings.PROVIDER_TAX_NUMBER, registration_id=settings.PROVIDER_REGISTRATION_ID,
        contact_name=settings.PROVIDER_CONTACT_NAME, contact_phone=settings.PROVIDER_CONTACT_PHONE,
        contact_email=settings.PROVIDER_CONTACT_EMAIL, iban=settings.PROVIDER_IBAN.replace(" ", ""),
        bic=settings.PROVIDER_BIC, bank_name=settings.PROVIDER_BANK_NAME,
    )  # fmt: skip
