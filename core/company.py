"""Company details shared by partners and clients: what is printed on an invoice and snapshotted at issue."""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from stdnum.br import cnpj, cpf

from core.countries import COUNTRY_NAMES

# EU member states (VAT): decides the tax treatment of an invoice.
EU_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)
# The VAT ID prefix of a country differs from its ISO code only for Greece.
VAT_PREFIX = {"GR": "EL"}
# Shape of each EU VAT number after its two-letter prefix (format only; VIES is not reachable from here).
VAT_FORMATS = {
    "AT": r"U\d{8}",
    "BE": r"[01]\d{9}",
    "BG": r"\d{9,10}",
    "CY": r"\d{8}[A-Z]",
    "CZ": r"\d{8,10}",
    "DE": r"\d{9}",
    "DK": r"\d{8}",
    "EE": r"\d{9}",
    "EL": r"\d{9}",
    "ES": r"[A-Z0-9]\d{7}[A-Z0-9]",
    "FI": r"\d{8}",
    "FR": r"[A-HJ-NP-Z0-9]{2}\d{9}",
    "HR": r"\d{11}",
    "HU": r"\d{8}",
    "IE": r"\d{7}[A-W][A-IW]?|\d[A-Z+*]\d{5}[A-W]",
    "IT": r"\d{11}",
    "LT": r"\d{9}|\d{12}",
    "LU": r"\d{8}",
    "LV": r"\d{11}",
    "MT": r"\d{8}",
    "NL": r"\d{9}B\d{2}",
    "PL": r"\d{10}",
    "PT": r"\d{9}",
    "RO": r"\d{2,10}",
    "SE": r"\d{12}",
    "SI": r"\d{8}",
    "SK": r"\d{10}",
}


def validate_country(value: str) -> None:
    if value not in COUNTRY_NAMES:
        raise ValidationError(_("%(value)s is not an ISO 3166-1 alpha-2 country code."), params={"value": value})


def normalize_vat_id(value: str) -> str:
    return re.sub(r"[\s.\-]", "", value or "").upper()


def vat_id_error(vat_id: str, country: str) -> str | None:
    """The reason an EU VAT ID is malformed for `country`, or None. Non-EU tax ids are accepted as given."""
    if not vat_id or country not in EU_COUNTRIES:
        return None
    prefix = VAT_PREFIX.get(country, country)
    if not vat_id.startswith(prefix):
        return str(_("A VAT ID for %(country)s starts with %(prefix)s.") % {"country": country, "prefix": prefix})
    if not re.fullmatch(VAT_FORMATS[prefix], vat_id[len(prefix) :]):
        return str(_("%(vat_id)s is not a valid %(country)s VAT ID format.") % {"vat_id": vat_id, "country": country})
    return None


# The invoice language a party gets from its country unless it chooses another (billing details).
COUNTRY_LANGUAGE = {
    **dict.fromkeys(("DE", "AT", "CH", "LI"), "de"),
    "BR": "pt-br",
    **dict.fromkeys(
        ("ES", "MX", "AR", "CO", "CL", "PE", "VE", "EC", "GT", "CU", "BO", "DO", "HN", "PY", "SV", "NI", "CR", "PA",
         "UY", "GQ", "PR"),
        "es",
    ),
}  # fmt: skip
# Brazil's federative units (UF): Stripe's Boleto needs the payer's state.
BRAZIL_STATES = [
    ("AC", "Acre"), ("AL", "Alagoas"), ("AP", "Amapá"), ("AM", "Amazonas"), ("BA", "Bahia"), ("CE", "Ceará"),
    ("DF", "Distrito Federal"), ("ES", "Espírito Santo"), ("GO", "Goiás"), ("MA", "Maranhão"),
    ("MT", "Mato Grosso"), ("MS", "Mato Grosso do Sul"), ("MG", "Minas Gerais"), ("PA", "Pará"), ("PB", "Paraíba"),
    ("PR", "Paraná"), ("PE", "Pernambuco"), ("PI", "Piauí"), ("RJ", "Rio de Janeiro"),
    ("RN", "Rio Grande do Norte"), ("RS", "Rio Grande do Sul"), ("RO", "Rondônia"), ("RR", "Roraima"),
    ("SC", "Santa Catarina"), ("SP", "São Paulo"), ("SE", "Sergipe"), ("TO", "Tocantins"),
]  # fmt: skip


def language_for_country(country: str) -> str:
    return COUNTRY_LANGUAGE.get((country or "").upper(), settings.LANGUAGE_CODE)


def brazil_tax_id_normalize(value: str) -> str:
    """A CPF (11 digits) or CNPJ (14 digits) as its digits only: what Stripe's boleto.tax_id takes."""
    return re.sub(r"\D", "", value or "")


def brazil_tax_id_error(value: str) -> str | None:
    """Why a CPF/CNPJ is not valid (check digits by python-stdnum), or None."""
    digits = brazil_tax_id_normalize(value)
    if len(digits) == 11 and cpf.is_valid(digits):
        return None
    if len(digits) == 14 and cnpj.is_valid(digits):
        return None
    return str(_("%(value)s is not a valid CPF (11 digits) or CNPJ (14 digits).") % {"value": value})


def brazil_tax_id_display(value: str) -> str:
    """The CPF/CNPJ as Brazilians write it: 123.456.789-09, 12.345.678/0001-95."""
    digits = brazil_tax_id_normalize(value)
    if len(digits) == 14:
        return cnpj.format(digits)
    if len(digits) == 11:
        return cpf.format(digits)
    return value


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    BILLING = "billing", _("Billing")
    VIEWER = "viewer", _("Viewer")


class CompanyDetails(models.Model):
    company_name = models.CharField(_("company name"), max_length=200)
    address_line1 = models.CharField(_("address"), max_length=200, blank=True)
    address_line2 = models.CharField(_("address (line 2)"), max_length=200, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=2, validators=[validate_country])
    vat_id = models.CharField(_("VAT ID"), max_length=20, blank=True)
    billing_email = models.EmailField(_("billing email"))
    # Brazil: the payer's CPF or CNPJ (digits only) and state (UF), which a Boleto needs.
    tax_id = models.CharField(_("CNPJ/CPF"), max_length=18, blank=True)  # as typed; kept as digits
    state = models.CharField(_("state (UF)"), max_length=2, blank=True, choices=BRAZIL_STATES)
    invoice_language = models.CharField(
        _("invoice language"),
        max_length=10,
        blank=True,
        choices=settings.LANGUAGES,
        help_text=_("Invoices, their emails and payment reminders are written in this language."),
    )

    class Meta:
        abstract = True

    def clean(self) -> None:
        super().clean()
        self.vat_id = normalize_vat_id(self.vat_id)
        self.country = (self.country or "").upper()
        error = vat_id_error(self.vat_id, self.country)
        if error:
            raise ValidationError({"vat_id": error})
        self._clean_brazil()

    def _clean_brazil(self) -> None:
        if self.country != "BR":
            self.tax_id, self.state = "", ""
            return
        # Optional here (a Brazilian client never pays by Boleto); paying by Boleto refuses without them
        # (billing/payments/manual.py), as Stripe would.
        if self.tax_id and (error := brazil_tax_id_error(self.tax_id)):
            raise ValidationError({"tax_id": error})
        self.tax_id = brazil_tax_id_normalize(self.tax_id)

    # What an invoice prints of the billed company (frozen at issue), and the fields that decide it: a set-based
    # issuer reads these as plain values (`snapshot_of`, `billing_language_of`) instead of a model per party.
    SNAPSHOT_FIELDS = (
        "company_name", "address_line1", "address_line2", "postal_code", "city", "country", "vat_id", "billing_email",
    )  # fmt: skip
    BRAZIL_SNAPSHOT_FIELDS = ("tax_id", "state")

    @classmethod
    def snapshot_source_fields(cls) -> tuple[str, ...]:
        return (*cls.SNAPSHOT_FIELDS, *cls.BRAZIL_SNAPSHOT_FIELDS, "invoice_language")

    @property
    def billing_language(self) -> str:
        """The language of this party's invoices: its choice, else its country's."""
        return self.billing_language_of({"invoice_language": self.invoice_language, "country": self.country})

    @staticmethod
    def billing_language_of(values) -> str:
        return values["invoice_language"] or language_for_country(values["country"])

    def company_snapshot(self) -> dict:
        """The billed company's details as printed on an invoice (frozen at issue)."""
        return self.snapshot_of({name: getattr(self, name) for name in self.snapshot_source_fields()})

    @classmethod
    def snapshot_of(cls, values) -> dict:
        """`company_snapshot` from the party's field values (a mapping with `snapshot_source_fields`)."""
        snapshot = {name: values[name] for name in cls.SNAPSHOT_FIELDS}
        if values["country"] == "BR":
            snapshot.update({name: values[name] for name in cls.BRAZIL_SNAPSHOT_FIELDS})
        return snapshot
