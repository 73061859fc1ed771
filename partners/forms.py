"""Forms of the Partner Hub: they parse and validate input; the services decide."""

from django import forms
from django.utils.translation import gettext_lazy as _

from billing.markets import COUNTRY_NAMES
from core.company import (
    BRAZIL_STATES,
    brazil_tax_id_error,
    brazil_tax_id_normalize,
    normalize_vat_id,
    vat_id_error,
)
from partners.models import Plan

COUNTRY_CHOICES = sorted(COUNTRY_NAMES.items(), key=lambda item: item[1])
SORT_CHOICES = [("name", _("Name")), ("usage", _("Usage this month")), ("balance", _("Credit balance"))]
DIRECTION_CHOICES = [("asc", _("Ascending")), ("desc", _("Descending"))]


class ClientListForm(forms.Form):
    """The client list's search and sort (?q=, ?sort=name|usage|balance, ?dir=asc|desc); bad values fall back."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    sort = forms.ChoiceField(label=_("Sort by"), choices=SORT_CHOICES, required=False)
    dir = forms.ChoiceField(label=_("Order"), choices=DIRECTION_CHOICES, required=False)

    def options(self) -> dict:
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "query": (data.get("q") or "").strip(),
            "sort": data.get("sort") or "name",
            "descending": data.get("dir") == "desc",
        }


class ClientOnboardForm(forms.Form):
    company_name = forms.CharField(label=_("Company name"), max_length=200)
    address_line1 = forms.CharField(label=_("Address"), max_length=200, required=False)
    address_line2 = forms.CharField(label=_("Address (line 2)"), max_length=200, required=False)
    postal_code = forms.CharField(label=_("Postal code"), max_length=20, required=False)
    city = forms.CharField(label=_("City"), max_length=100, required=False)
    country = forms.ChoiceField(label=_("Country"), choices=COUNTRY_CHOICES)
    vat_id = forms.CharField(label=_("VAT ID"), max_length=20, required=False)
    # Brazil: what a Boleto needs (the billing details page asks the same); ignored for other countries.
    tax_id = forms.CharField(label=_("CNPJ/CPF"), max_length=18, required=False,
                             help_text=_("Brazil only: the company's CNPJ (or a person's CPF), which a Boleto needs."))
    state = forms.ChoiceField(label=_("State (UF)"), choices=[("", "—"), *BRAZIL_STATES], required=False,
                              help_text=_("Brazil only: the state (UF) of the address."))  # fmt: skip
    billing_email = forms.EmailField(label=_("Billing email"))
    hub_name = forms.CharField(label=_("Hub name"), max_length=200)

    def clean(self):
        data = super().clean()
        vat_id, country = normalize_vat_id(data.get("vat_id", "")), data.get("country", "")
        error = vat_id_error(vat_id, country)
        if error:
            self.add_error("vat_id", error)
        data["vat_id"] = vat_id
        self._clean_brazil(data)
        return data

    def _clean_brazil(self, data: dict) -> None:
        if data.get("country") != "BR":
            data["tax_id"], data["state"] = "", ""
            return
        tax_id = data.get("tax_id", "")
        if tax_id and (error := brazil_tax_id_error(tax_id)):
            self.add_error("tax_id", error)
        data["tax_id"] = brazil_tax_id_normalize(tax_id)


class PlanChangeForm(forms.Form):
    plan = forms.ModelChoiceField(
        label=_("Plan"), queryset=Plan.objects.order_by("monthly_fee"), empty_label=None, widget=forms.RadioSelect
    )
