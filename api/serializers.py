"""What the API reads and answers: input serializers parse requests, output serializers describe the rows (and the
OpenAPI schema). Amounts are decimal strings in the row's currency; never floats."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from billing.invoicing.prepayments import TOPUP_MAX, TOPUP_MIN
from billing.models import Category, EntryKind, InvoiceKind, InvoiceStatus
from billing.money import decimal_plain
from hub.models import PhoneNumber

HUB_ID_PATTERN = r"^HUB-[A-Z0-9]{1,12}$"
MAX_USAGE_DAYS = 93
BILLING_STATES = ["paid", "pending", "unpaid", "none"]
PAYMENT_STATES = ["paid", "processing", "failed", "busy", "not_payable", "not_due"]


# Errors -------------------------------------------------------------------------------------------------------------
class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text=_("A stable, machine-readable code: invalid, not_found, throttled, …"))
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text=_("For invalid requests: each field's messages (`_` for the request as a whole)."),
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


# Invoices -----------------------------------------------------------------------------------------------------------
class InvoiceLineSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    role = serializers.CharField()
    description = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=12, decimal_places=4)
    unit_amount = serializers.DecimalField(max_digits=14, decimal_places=6)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)


class InvoiceSerializer(serializers.Serializer):
    number = serializers.CharField()
    kind = serializers.ChoiceField(choices=InvoiceKind.choices)
    status = serializers.ChoiceField(choices=InvoiceStatus.choices)
    period_start = serializers.DateField()
    period_end = serializers.DateField(help_text=_("Exclusive: the day after the period's last day."))
    currency = serializers.CharField()
    net_amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    fee_amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    tax_amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    issued_at = serializers.DateTimeField()
    due_date = serializers.DateField(allow_null=True)
    paid_at = serializers.DateTimeField(allow_null=True)


class ClientInvoiceSerializer(InvoiceSerializer):
    hub_id = serializers.CharField(source="hub.hub_id")


class InvoiceDetailFields(serializers.Serializer):
    tax_rate = serializers.DecimalField(max_digits=5, decimal_places=4)
    tax_note = serializers.CharField()
    pays_by_card = serializers.BooleanField()
    billed_company = serializers.DictField(child=serializers.CharField(allow_blank=True))
    lines = InvoiceLineSerializer(many=True)


class ClientInvoiceDetailSerializer(ClientInvoiceSerializer, InvoiceDetailFields):
    pass


class PartnerInvoiceDetailSerializer(InvoiceSerializer, InvoiceDetailFields):
    pass


class PartnerInvoiceFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[(s, label) for s, label in InvoiceStatus.choices if s != InvoiceStatus.DRAFT], required=False
    )
    period = serializers.RegexField(
        r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])$",
        required=False,
        help_text=_("YYYY-MM: invoices whose period starts that month."),
    )


class InvoiceFilterSerializer(PartnerInvoiceFilterSerializer):
    kind = serializers.ChoiceField(choices=InvoiceKind.choices, required=False)
    hub = serializers.RegexField(HUB_ID_PATTERN, required=False)


# Credit balance and ledger ------------------------------------------------------------------------------------------
class RestrictionSerializer(serializers.Serializer):
    blocks = serializers.CharField()
    reason = serializers.CharField()
    detail = serializers.CharField()
    started_at = serializers.DateTimeField()


class CreditBalanceSerializer(serializers.Serializer):
    hub_id = serializers.CharField(source="hub.hub_id")
    hub_name = serializers.CharField(source="hub.name")
    currency = serializers.CharField()
    balance = serializers.DecimalField(max_digits=18, decimal_places=6)
    auto_renew = serializers.BooleanField()
    auto_renew_threshold = serializers.DecimalField(max_digits=12, decimal_places=2)
    auto_renew_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    monthly_prepayment = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    restrictions = RestrictionSerializer(many=True, source="hub.active_restrictions")


class HubFilterSerializer(serializers.Serializer):
    hub = serializers.RegexField(HUB_ID_PATTERN, required=False)


class LedgerEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    hub_id = serializers.CharField(source="account.hub.hub_id")
    sequence = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=EntryKind.choices)
    amount = serializers.DecimalField(max_digits=18, decimal_places=6)
    currency = serializers.CharField()
    balance_after = serializers.DecimalField(max_digits=18, decimal_places=6)
    period = serializers.DateField()
    occurred_at = serializers.DateTimeField()
    posted_at = serializers.DateTimeField()
    reference = serializers.CharField()
    memo = serializers.CharField()


# Usage --------------------------------------------------------------------------------------------------------------
class UsageQuerySerializer(serializers.Serializer):
    start = serializers.DateField(help_text=_("First day (the day in the WABA's time zone), inclusive."))
    end = serializers.DateField(help_text=_("Last day, inclusive. At most 93 days after the first."))
    hub = serializers.RegexField(HUB_ID_PATTERN, required=False)

    def validate(self, attrs):
        if attrs["end"] < attrs["start"]:
            raise serializers.ValidationError({"end": [_("The last day is before the first.")]})
        if (attrs["end"] - attrs["start"]).days >= MAX_USAGE_DAYS:
            raise serializers.ValidationError({"end": [_("Ask for at most 93 days at a time.")]})
        return attrs


class UsageRowSerializer(serializers.Serializer):
    day = serializers.DateField(source="rate_date")
    waba_id = serializers.CharField(source="waba__meta_waba_id")
    phone_number = serializers.CharField(source="phone_number__e164")
    category = serializers.ChoiceField(choices=Category.choices)
    market = serializers.CharField()
    currency = serializers.CharField()
    messages = serializers.IntegerField()
    billable_messages = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=18, decimal_places=6)


# Numbers ------------------------------------------------------------------------------------------------------------
class PhoneNumberSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    e164 = serializers.CharField()
    display_name = serializers.CharField()
    meta_phone_number_id = serializers.CharField(help_text=_("The number's ID at Meta; empty until it is set."))
    waba_id = serializers.CharField(source="waba.meta_waba_id")
    hub_id = serializers.CharField(source="waba.hub.hub_id")
    tier = serializers.CharField(source="tier.code")
    status = serializers.ChoiceField(choices=PhoneNumber.Status.choices)
    onboarded_at = serializers.DateTimeField()
    deletion_requested_at = serializers.DateTimeField(allow_null=True)
    deleted_at = serializers.DateTimeField(allow_null=True)
    licensed_through = serializers.DateField(allow_null=True)


class NumberFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=PhoneNumber.Status.choices, required=False)
    hub = serializers.RegexField(HUB_ID_PATTERN, required=False)


class NumberOnboardSerializer(serializers.Serializer):
    waba_id = serializers.RegexField(r"^\d{5,32}$", help_text=_("The WABA's Meta id; the WABA must be yours."))
    e164 = serializers.CharField(max_length=16, help_text=_("The number in E.164 format, e.g. +4915112345678."))
    tier = serializers.SlugField(max_length=20, help_text=_("License tier code: regular or premium."))
    display_name = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    meta_phone_number_id = serializers.RegexField(
        r"^\d{1,32}$",
        required=False,
        default="",
        allow_blank=True,
        error_messages={"invalid": _("Meta's phone number ID is a string of digits.")},
        help_text=_("The number's ID at Meta (metadata.phone_number_id in its webhooks), when known."),
    )


# Top-ups ------------------------------------------------------------------------------------------------------------
class PlainDecimalField(serializers.DecimalField):
    """An amount in plain decimal notation ("20.00", or the JSON number 20): not "1e3", " 50 " nor "١٠٠", which
    Python's Decimal would take."""

    default_error_messages = {"plain": _("Enter the amount in plain decimal notation, such as 20.00.")}

    def to_internal_value(self, data):
        text = repr(data) if isinstance(data, float) else str(data) if type(data) is int else data
        if decimal_plain(text) is None:
            self.fail("plain")
        return super().to_internal_value(text)


class TopUpSerializer(serializers.Serializer):
    amount = PlainDecimalField(
        max_digits=12, decimal_places=2, min_value=TOPUP_MIN, max_value=TOPUP_MAX,
        help_text=_("In the hub's currency, whole cents, between 10.00 and 10000.00."),
    )  # fmt: skip


class PaymentStateSerializer(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=PAYMENT_STATES,
        help_text=_("paid: the card was charged and the funds are on the balance; failed: see failures."),
    )
    failures = serializers.ListField(child=serializers.CharField())


class TopUpResultSerializer(serializers.Serializer):
    invoice = ClientInvoiceDetailSerializer()
    payment = PaymentStateSerializer()
    balance = serializers.DecimalField(max_digits=18, decimal_places=6)


# Partners -----------------------------------------------------------------------------------------------------------
class PartnerRestrictionSerializer(serializers.Serializer):
    """A client's block as its partner sees it: the reason and its plain words, never the client's invoice (the
    Partner Hub page shows no more)."""

    blocks = serializers.CharField()
    reason = serializers.CharField()
    detail = serializers.CharField(
        source="get_reason_display", help_text=_("The reason in plain words (no invoice of the client is named).")
    )
    started_at = serializers.DateTimeField()


class PartnerHubSerializer(serializers.Serializer):
    hub_id = serializers.CharField()
    name = serializers.CharField()
    balance = serializers.DecimalField(max_digits=18, decimal_places=6)
    restrictions = PartnerRestrictionSerializer(many=True)


class PartnerClientSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    company_name = serializers.CharField()
    country = serializers.CharField()
    billing_email = serializers.EmailField()
    created_at = serializers.DateTimeField()
    currency = serializers.CharField()
    usage_month = serializers.DateField(help_text=_("First day of the month the usage figures are for."))
    messages_this_month = serializers.IntegerField()
    usage_cost_this_month = serializers.DecimalField(max_digits=18, decimal_places=6)
    credit_balance = serializers.DecimalField(
        max_digits=18, decimal_places=6, help_text=_("The sum of its hubs' credit balances.")
    )
    license_status = serializers.ChoiceField(
        choices=BILLING_STATES, help_text=_("Its License Invoices: unpaid if any is unpaid.")
    )
    mci_status = serializers.ChoiceField(
        choices=BILLING_STATES, help_text=_("Its Month Closing Invoices: unpaid if any is.")
    )
    restricted = serializers.BooleanField(help_text=_("Outbound messaging of at least one hub is blocked."))
    hubs = PartnerHubSerializer(many=True)


class ClientOnboardSerializer(serializers.Serializer):
    company_name = serializers.CharField(max_length=200)
    country = serializers.RegexField(r"^[A-Za-z]{2}$", help_text=_("ISO 3166-1 alpha-2 code."))
    billing_email = serializers.EmailField(max_length=254)
    address_line1 = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    address_line2 = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    postal_code = serializers.CharField(max_length=20, required=False, default="", allow_blank=True)
    city = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)
    vat_id = serializers.CharField(max_length=20, required=False, default="", allow_blank=True)


class OnboardedClientSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    company_name = serializers.CharField()
    country = serializers.CharField()
    billing_email = serializers.EmailField()
    vat_id = serializers.CharField()
    currency = serializers.CharField()
    created_at = serializers.DateTimeField()
