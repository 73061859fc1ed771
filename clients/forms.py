"""Forms of the Client Hub pages: they parse and check input; the services do the work."""

import datetime as dt
import uuid
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from billing.invoicing.prepayments import TOPUP_MAX, TOPUP_MIN
from billing.models import InvoiceStatus
from billing.money import decimal_plain
from billing.selectors.clients import CLIENT_INVOICE_KINDS, SHOWN_STATUSES


class PlainDecimalField(forms.DecimalField):
    """An amount in plain decimal notation ("50" or "50.00"): not "1e3", " 50 " nor "١٠٠", which Decimal takes."""

    default_error_messages = {"invalid": _("Enter the amount in plain decimal notation, such as 50.00.")}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if decimal_plain(value if isinstance(value, str) else str(value)) is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


def _amount_field(label, *, minimum: Decimal, help_text="") -> forms.DecimalField:
    return PlainDecimalField(
        label=label,
        min_value=minimum,
        max_value=TOPUP_MAX,
        max_digits=12,
        decimal_places=2,
        help_text=help_text,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )


class InvoiceFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Kind"),
        required=False,
        choices=[("", _("All kinds")), *[(k.value, k.label) for k in CLIENT_INVOICE_KINDS]],
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("All statuses")), *[(s.value, InvoiceStatus(s).label) for s in SHOWN_STATUSES]],
    )
    period = forms.DateField(
        label=_("Period"),
        required=False,
        input_formats=["%Y-%m"],
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
        error_messages={"invalid": _("Enter a month as YYYY-MM.")},
    )

    def month(self) -> dt.date | None:
        period = self.cleaned_data.get("period")
        return period.replace(day=1) if period else None


class AddFundsForm(forms.Form):
    amount = _amount_field(
        _("Amount"), minimum=TOPUP_MIN, help_text=_("Charged to your first saved card; added when the payment clears.")
    )
    # Generated when the form is shown: submitting the same form twice names the same top-up, which is charged once.
    request_key = forms.UUIDField(widget=forms.HiddenInput)
    hub = forms.CharField(widget=forms.HiddenInput, max_length=16)

    def __init__(self, *args, hub_id: str = "", **kwargs):
        kwargs.setdefault("initial", {})
        kwargs["initial"] = {"request_key": uuid.uuid4(), "hub": hub_id, **kwargs["initial"]}
        super().__init__(*args, **kwargs)


class AutoRenewalForm(forms.Form):
    auto_renew = forms.BooleanField(label=_("Top up automatically"), required=False)
    auto_renew_threshold = _amount_field(
        _("When the balance falls below"), minimum=Decimal("0.00"),
    )  # fmt: skip
    auto_renew_amount = _amount_field(_("Top up by"), minimum=TOPUP_MIN)
    hub = forms.CharField(widget=forms.HiddenInput, max_length=16)


class MonthlyPrepaymentForm(forms.Form):
    monthly_prepayment = _amount_field(
        _("Monthly prepayment"),
        minimum=Decimal("0.00"),
        help_text=_("Invoiced on the last day of each month for the next month's messaging; 0 turns it off."),
    )
    hub = forms.CharField(widget=forms.HiddenInput, max_length=16)

    def clean_monthly_prepayment(self) -> Decimal:
        amount = self.cleaned_data["monthly_prepayment"]
        if Decimal(0) < amount < TOPUP_MIN:
            raise forms.ValidationError(
                _("Enter 0 to turn it off, or at least %(minimum)s."), params={"minimum": TOPUP_MIN}
            )
        return amount


class BalanceAlertsForm(forms.Form):
    low_balance_alert = forms.DecimalField(
        label=_("Email me when the balance falls below"), required=False, min_value=Decimal("0.01"),
        max_value=TOPUP_MAX, max_digits=12, decimal_places=2,
        help_text=_("Leave empty for no low-balance email."),
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )  # fmt: skip
    run_out_alert = forms.BooleanField(label=_("Email me when the credit runs out"), required=False)
    hub = forms.CharField(widget=forms.HiddenInput, max_length=16)
