"""Forms of the shared payment pages (Client Hub and Partner Hub)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from billing.models import PaymentMethod, PaymentMethodKind

VOUCHER_KINDS = [(PaymentMethodKind.PIX.value, _("PIX")), (PaymentMethodKind.BOLETO.value, _("Boleto"))]


class PayForm(forms.Form):
    """Which way to pay: a saved card ("card:<id>") or a voucher ("pix", "boleto"), among those offered."""

    method = forms.ChoiceField(label=_("Pay with"), widget=forms.RadioSelect)

    def __init__(self, *args, options: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["method"].choices = options
        if options:
            self.fields["method"].initial = options[0][0]

    def kind_and_card(self, cards: dict[int, PaymentMethod]) -> tuple[str, PaymentMethod | None]:
        choice = self.cleaned_data["method"]
        if choice.startswith("card:"):
            return PaymentMethodKind.CARD, cards[int(choice.split(":", 1)[1])]
        return choice, None


class MethodsOrderForm(forms.Form):
    """A new charge order: every method id in order (`order=3,1,2`), or one method moved up or down."""

    order = forms.CharField(required=False)
    method = forms.IntegerField(required=False)
    move = forms.ChoiceField(choices=[("up", _("Up")), ("down", _("Down"))], required=False)

    def __init__(self, *args, current_ids: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        self.current_ids = current_ids

    def clean_order(self) -> list[int]:
        raw = self.cleaned_data["order"]
        try:
            return [int(part) for part in raw.replace(" ", "").split(",") if part]
        except ValueError:
            raise forms.ValidationError(_("The order lists payment method ids separated by commas.")) from None

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        if data.get("order"):
            data["method_ids"] = data["order"]
        elif data.get("method") in self.current_ids and data.get("move"):
            data["method_ids"] = self._moved(data["method"], -1 if data["move"] == "up" else 1)
        else:
            raise forms.ValidationError(_("Say which payment method moves where."))
        return data

    def _moved(self, method_id: int, step: int) -> list[int]:
        ids = list(self.current_ids)
        index = ids.index(method_id)
        target = min(max(index + step, 0), len(ids) - 1)
        ids[index], ids[target] = ids[target], ids[index]
        return ids


class VoucherMethodForm(forms.Form):
    kind = forms.ChoiceField(label=_("Method"), choices=VOUCHER_KINDS)


class CardAddedForm(forms.Form):
    """What the card form posts once Stripe.js confirmed the SetupIntent (`setup_intent=seti_…`)."""

    setup_intent = forms.RegexField(regex=r"^seti_\w+$", max_length=100)
