"""Billing details: the company printed on a party's invoices. One page for clients (/client/billing-details/) and
partners (/partner/billing-details/); owners and billing users edit, viewers read.

An issued invoice keeps the company as it was at issue (Invoice.billed_company), so a change here shows on
future invoices only.
"""

from babel import Locale
from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from billing.markets import COUNTRY_MARKET
from clients.models import Client
from core.company import brazil_tax_id_display
from partners.models import Partner
from portal.scope import partner_required
from portal.services import COMPANY_FIELDS, company_details_update, company_fields


def country_choices() -> list[tuple[str, str]]:
    """Every country the pricing table knows, by its name in the active language."""
    names = Locale.parse(translation.get_language() or "en", sep="-").territories
    return sorted(((code, names.get(code, code)) for code in COUNTRY_MARKET), key=lambda choice: choice[1])


def country_name(code: str) -> str:
    return Locale.parse(translation.get_language() or "en", sep="-").territories.get(code, code)


class CompanyDetailsForm(forms.ModelForm):
    """The model's own validation runs on save (CompanyDetails.clean: VAT ID format for the country)."""

    country = forms.ChoiceField(label=_("Country"))

    class Meta:
        fields = COMPANY_FIELDS
        help_texts = {
            "vat_id": _("EU companies: with the country prefix, e.g. DE123456789. Leave empty if you have none."),
            "billing_email": _("Invoices, receipts and payment reminders are sent here."),
            "tax_id": _("Brazil only: the company's CNPJ (or a person's CPF), which a Boleto needs."),
            "state": _("Brazil only: the state (UF) of the address."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["country"].choices = country_choices()
        # Empty: the country's language (DE/AT/CH → Deutsch, BR → Português, ES and Latin America → Español).
        self.fields["invoice_language"].choices = [("", _("The country's language")), *settings.LANGUAGES]


def _form_class(party: Client | Partner) -> type[CompanyDetailsForm]:
    return forms.modelform_factory(type(party), form=CompanyDetailsForm, fields=company_fields(party))


def company_details_page(request):
    """The shared page; the caller has set `request.membership` (client_required or partner_required)."""
    membership = request.membership
    party = membership.party
    form = None
    if membership.can_manage:
        form = _form_class(party)(request.POST or None, instance=type(party).objects.get(pk=party.pk))
    elif request.method == "POST":
        raise PermissionDenied
    if request.method == "POST" and form.is_valid():
        company_details_update(party=party, details=form.cleaned_data)
        messages.success(request, _("Billing details saved. They are printed on the invoices issued from now on."))
        return redirect(f"{membership.kind}:billing-details")
    return render(
        request,
        "portal/company_details.html",
        {
            "form": form, "party": party, "country_name": country_name(party.country),
            "invoice_language": dict(settings.LANGUAGES).get(party.billing_language, party.billing_language),
            "tax_id": brazil_tax_id_display(party.tax_id) if party.tax_id else "",
            "has_buyer_reference": isinstance(party, Client),
        },  # fmt: skip
    )


billing_details = partner_required(company_details_page)
