import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from billing.onboarding import hub_open, number_onboard
from clients.models import ClientMembership
from core.company import vat_id_error
from hub.models import LicenseTier, PhoneNumber, Waba, validate_e164, validate_timezone
from hub.services import waba_create
from partners.models import PartnerMembership
from tests.factories import (
    ClientFactory,
    HubFactory,
    PartnerFactory,
    PhoneNumberFactory,
    UserFactory,
    WabaFactory,
)

ONBOARDED = dt.datetime(2026, 9, 1, 9, tzinfo=dt.UTC)


def messages(error: ValidationError) -> list[str]:
    return list(error.messages)


# E.164


def test_a_number_with_plus_and_country_code_is_e164():
    validate_e164("+4915112345678")
    validate_e164("+12025550143")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("4915112345678", "Phone number must be in E.164 format (+ and country code)."),
        ("004915112345678", "Phone number must be in E.164 format (+ and country code)."),
        ("+49 151 12345678", "Phone number must be in E.164 format without spaces."),
        ("+49-151-12345678", "Phone number must be in E.164 format without spaces."),
        ("+12", "Phone number must be in E.164 format (+ and country code)."),
        ("+1202555014", "Phone number is not a possible number."),
    ],
)
def test_a_number_that_is_not_e164_is_rejected_with_its_reason(value, message):
    with pytest.raises(ValidationError) as raised:
        validate_e164(value)

    assert messages(raised.value) == [message]


@pytest.mark.django_db
def test_onboarding_a_number_validates_its_format():
    waba = WabaFactory()

    with pytest.raises(ValidationError) as raised:
        number_onboard(
            waba=waba,
            e164="+49 151 12345678",
            tier=LicenseTier.objects.get(code="regular"),
            onboarded_at=ONBOARDED,
        )

    assert raised.value.message_dict == {"e164": ["Phone number must be in E.164 format without spaces."]}
    assert not PhoneNumber.objects.exists()


# WABA time zone


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/Sao_Paulo", "Etc/GMT+1"])
def test_an_iana_time_zone_is_accepted(zone):
    validate_timezone(zone)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "CET+1", "europe/berlin", "../../etc/passwd", ""])
def test_a_time_zone_that_is_not_iana_is_rejected(zone):
    with pytest.raises(ValidationError) as raised:
        validate_timezone(zone)

    assert messages(raised.value) == [f"{zone} is not an IANA time zone."]


@pytest.mark.django_db
def test_a_waba_with_an_unknown_time_zone_is_not_created():
    hub = HubFactory()

    with pytest.raises(ValidationError) as raised:
        waba_create(hub=hub, meta_waba_id="104857600001", name="Shop", timezone="Europe/Atlantis")

    assert raised.value.message_dict == {"timezone": ["Europe/Atlantis is not an IANA time zone."]}
    assert not Waba.objects.exists()


@pytest.mark.django_db
def test_a_waba_with_a_valid_time_zone_is_created():
    waba = waba_create(hub=HubFactory(), meta_waba_id="104857600001", name="Shop", timezone="Europe/Berlin")

    assert Waba.objects.get(pk=waba.pk).timezone == "Europe/Berlin"


# One live record per phone number


@pytest.mark.django_db
def test_a_second_live_record_of_the_same_number_is_refused_by_the_database():
    first = PhoneNumberFactory(e164="+4915112345678")

    with pytest.raises(IntegrityError), transaction.atomic():
        PhoneNumberFactory(e164="+4915112345678", waba=first.waba)

    assert PhoneNumber.objects.count() == 1


@pytest.mark.django_db
def test_a_pending_deletion_record_still_holds_the_number():
    PhoneNumberFactory(e164="+4915112345678", status=PhoneNumber.Status.PENDING_DELETION)

    with pytest.raises(IntegrityError), transaction.atomic():
        PhoneNumberFactory(e164="+4915112345678")


@pytest.mark.django_db
def test_a_number_can_come_back_after_it_was_deleted():
    first = PhoneNumberFactory(e164="+4915112345678")
    PhoneNumber.objects.filter(pk=first.pk).update(
        status=PhoneNumber.Status.DELETED, deleted_at=dt.datetime(2026, 10, 31, 23, tzinfo=dt.UTC)
    )

    again = PhoneNumberFactory(e164="+4915112345678", waba=WabaFactory())

    assert sorted(PhoneNumber.objects.filter(e164="+4915112345678").values_list("pk", "status")) == [
        (first.pk, "deleted"),
        (again.pk, "active"),
    ]


@pytest.mark.django_db
def test_onboarding_a_live_number_again_fails_validation_before_the_database():
    first = PhoneNumberFactory(e164="+4915112345678")

    with pytest.raises(ValidationError) as raised:
        number_onboard(waba=first.waba, e164="+4915112345678", tier=first.tier, onboarded_at=ONBOARDED)

    assert raised.value.messages == ["Constraint “phone_number_live_unique” is violated."]


@pytest.mark.django_db
def test_a_deleted_number_needs_its_deletion_time():
    number = PhoneNumberFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        PhoneNumber.objects.filter(pk=number.pk).update(status=PhoneNumber.Status.DELETED)


# VAT IDs


@pytest.mark.parametrize(
    ("vat_id", "country", "error"),
    [
        ("DE136695976", "DE", None),
        ("DE12", "DE", "DE12 is not a valid DE VAT ID format."),
        ("DE1366959761", "DE", "DE1366959761 is not a valid DE VAT ID format."),
        ("ESB12345674", "ES", None),
        ("FR12345678901", "DE", "A VAT ID for DE starts with DE."),
        ("EL094259216", "GR", None),
        ("GR094259216", "GR", "A VAT ID for GR starts with EL."),
        ("ATU12345678", "AT", None),
        ("AT12345678", "AT", "AT12345678 is not a valid AT VAT ID format."),
        ("NL123456789B01", "NL", None),
        ("anything at all", "US", None),
        ("CHE-123.456.789", "CH", None),
        ("", "DE", None),
    ],
)
def test_vat_id_format_by_country(vat_id, country, error):
    assert vat_id_error(vat_id, country) == error


@pytest.mark.django_db
def test_a_client_vat_id_is_normalised_before_it_is_checked():
    client = ClientFactory.build(partner=PartnerFactory(), country="DE", vat_id="de 136.695-976")

    client.full_clean()

    assert (client.country, client.vat_id) == ("DE", "DE136695976")


@pytest.mark.django_db
def test_a_client_with_a_malformed_vat_id_fails_validation():
    client = ClientFactory.build(partner=PartnerFactory(), country="GR", vat_id="GR094259216")

    with pytest.raises(ValidationError) as raised:
        client.full_clean()

    assert raised.value.message_dict == {"vat_id": ["A VAT ID for GR starts with EL."]}


# A user belongs to one party only


@pytest.mark.django_db
def test_a_partner_user_cannot_also_be_a_client_user():
    user = UserFactory()
    PartnerMembership.objects.create(user=user, partner=PartnerFactory(), role="owner")
    membership = ClientMembership(user=user, client=ClientFactory(), role="viewer")

    with pytest.raises(ValidationError) as raised:
        membership.full_clean()

    assert raised.value.messages == ["This user already belongs to a partner; a user belongs to one party only."]


@pytest.mark.django_db
def test_a_client_user_cannot_also_be_a_partner_user():
    user = UserFactory()
    ClientMembership.objects.create(user=user, client=ClientFactory(), role="owner")
    membership = PartnerMembership(user=user, partner=PartnerFactory(), role="viewer")

    with pytest.raises(ValidationError) as raised:
        membership.full_clean()

    assert raised.value.messages == ["This user already belongs to a client; a user belongs to one party only."]


@pytest.mark.django_db
def test_a_user_without_a_membership_can_join_a_client():
    membership = ClientMembership(user=UserFactory(), client=ClientFactory(), role="billing")

    membership.full_clean()


# Hubs


@pytest.mark.django_db
@pytest.mark.parametrize("currency", ["EUR", "USD"])
def test_a_hub_takes_its_partners_currency_and_gets_a_credit_account_in_it(currency):
    client = ClientFactory(partner=PartnerFactory(currency=currency))

    hub = hub_open(client=client, name="Shop")

    hub.refresh_from_db()
    assert hub.currency == currency
    assert (hub.credit_account.currency, hub.credit_account.balance) == (currency, Decimal(0))
    assert hub.hub_id.startswith("HUB-") and len(hub.hub_id) == 12


@pytest.mark.django_db
def test_a_hub_keeps_the_hub_id_it_was_given():
    hub = hub_open(client=ClientFactory(), name="Shop", hub_id="HUB-DEMQ7K2M")

    assert hub.hub_id == "HUB-DEMQ7K2M"
