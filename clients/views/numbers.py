"""Client Hub › Numbers: the client's WABAs and numbers with their license state; onboard a number; request the
deletion of one (it stays licensed, and billed, until month end)."""

import datetime as dt

import phonenumbers
from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from billing import formats
from billing.invoicing.licenses import prorated_fee
from billing.onboarding import number_onboard as number_onboard_service
from billing.selectors.clients import number_row, numbers_of
from clients.models import Client
from core import clock
from hub.models import LicenseTier, PhoneNumber, Waba, e164_error
from hub.services import number_request_deletion
from portal.scope import MANAGE_ROLES, client_required
from portal.templatetags.portal import money

ALREADY_ONBOARDED = _("%(number)s is already onboarded.")
META_ID_TAKEN = _("Another number already has the Meta phone number ID %(id)s.")


class TierChoiceField(forms.ModelChoiceField):
    def __init__(self, *args, currency: str, **kwargs):
        self.currency = currency
        super().__init__(*args, **kwargs)

    def label_from_instance(self, obj: LicenseTier) -> str:
        return gettext("%(tier)s (%(fee)s a month)") % {"tier": obj.name, "fee": money(obj.monthly_fee, self.currency)}


class NumberOnboardForm(forms.Form):
    waba = forms.ModelChoiceField(label=_("WABA"), queryset=Waba.objects.none(), empty_label=None)
    e164 = forms.CharField(
        label=_("Phone number"),
        max_length=24,
        help_text=_("In international format with the country code, e.g. +4915112345678."),
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off", "placeholder": "+4915112345678"}),
    )
    display_name = forms.CharField(label=_("Display name"), max_length=200, required=False)
    meta_phone_number_id = forms.RegexField(
        label=_("Meta phone number ID"),
        regex=r"^[0-9]{1,32}$",
        required=False,
        error_messages={"invalid": _("Meta's phone number ID is a string of digits.")},
        help_text=_("Optional: the number's ID in WhatsApp Manager, which Meta's webhooks name it by."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )

    def __init__(self, *args, client: Client, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["waba"].queryset = Waba.objects.filter(hub__client=client).select_related("hub")
        self.fields["tier"] = TierChoiceField(
            label=_("License tier"), queryset=LicenseTier.objects.all(), empty_label=None, currency=client.currency
        )
        self.order_fields(["waba", "e164", "tier", "display_name", "meta_phone_number_id"])

    def clean_e164(self) -> str:
        """Spaces, dashes and brackets are allowed in what is typed; the number is kept in E.164."""
        typed = self.cleaned_data["e164"].strip()
        compact = "".join(ch for ch in typed if ch.isdigit() or ch == "+")
        try:
            parsed = phonenumbers.parse(compact, None)
        except phonenumbers.NumberParseException as exc:
            raise ValidationError(
                _("Enter the number in international format, starting with + and the country code.")
            ) from exc
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        if e164_error(e164) or not phonenumbers.is_valid_number(parsed):
            raise ValidationError(_("%(number)s is not a valid phone number."), params={"number": typed})
        if PhoneNumber.objects.filter(e164=e164).exclude(status=PhoneNumber.Status.DELETED).exists():
            raise ValidationError(ALREADY_ONBOARDED, params={"number": e164})
        return e164

    def clean_meta_phone_number_id(self) -> str:
        meta_id = self.cleaned_data["meta_phone_number_id"].strip()
        live = PhoneNumber.objects.exclude(status=PhoneNumber.Status.DELETED)
        if meta_id and live.filter(meta_phone_number_id=meta_id).exists():
            raise ValidationError(META_ID_TAKEN, params={"id": meta_id})
        return meta_id


def _prorated_today(client: Client) -> list[tuple[LicenseTier, str]]:
    today = clock.now().astimezone(dt.UTC).date()
    if today.day == 1:
        return []
    return [
        (tier, money(prorated_fee(monthly_fee=tier.monthly_fee, onboarded_on=today), client.currency))
        for tier in LicenseTier.objects.all()
    ]


@client_required
def number_list(request):
    client = request.membership.party
    return render(request, "clients/numbers.html", {"sections": numbers_of(client), "currency": client.currency})


def _form_errors_from(form: forms.Form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


@client_required(roles=MANAGE_ROLES)
def number_onboard(request):
    client = request.membership.party
    form = NumberOnboardForm(request.POST or None, client=client, initial={"waba": request.GET.get("waba")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            number = number_onboard_service(
                waba=data["waba"],
                e164=data["e164"],
                tier=data["tier"],
                display_name=data["display_name"],
                meta_phone_number_id=data["meta_phone_number_id"],
            )
        except ValidationError as error:
            _form_errors_from(form, error)
        except IntegrityError:  # another request onboarded the same number a moment earlier
            form.add_error("e164", ValidationError(ALREADY_ONBOARDED, params={"number": data["e164"]}))
        else:
            messages.success(
                request,
                _("%(number)s is onboarded. Its pro-rated license invoice for the rest of the month is on its way.")
                % {"number": number.e164},
            )
            return redirect("client:numbers")
    has_wabas = form.fields["waba"].queryset.exists()
    return render(
        request,
        "clients/number_onboard.html",
        {"form": form, "has_wabas": has_wabas, "prorated_today": _prorated_today(client)},
    )


@require_POST
@client_required(roles=MANAGE_ROLES)
def number_delete(request, number_id: int):
    number = get_object_or_404(
        PhoneNumber.objects.exclude(status=PhoneNumber.Status.DELETED),
        pk=number_id,
        waba__hub__client=request.membership.party,
    )
    if number.status != PhoneNumber.Status.ACTIVE:
        messages.info(request, _("The deletion of %(number)s is already requested.") % {"number": number.e164})
        return redirect("client:numbers")
    number = number_request_deletion(number=number)
    messages.success(
        request,
        _("Deletion of %(number)s requested. It stays licensed and working until it is removed after %(day)s.")
        % {"number": number.e164, "day": formats.day(number_row(number).removed_after)},
    )
    return redirect("client:numbers")
