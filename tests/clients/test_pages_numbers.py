"""Client Hub › Numbers: the list with license states, onboarding (pro-rated invoice) and deletion requests."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from billing.models import Blocks, Invoice, InvoiceKind, Restriction, RestrictionReason
from clients.models import ClientMembership
from core.company import Role
from hub.models import LicenseTier, PhoneNumber
from tests.factories import ClientFactory, HubFactory, PhoneNumberFactory, UserFactory, WabaFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 9, 16, 10, tzinfo=dt.UTC)  # September has 30 days: the 16th leaves 15 of them


@pytest.fixture(autouse=True)
def _frozen_time():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def waba():
    hub = HubFactory(hub_id="HUB-NUMBERS1", client=ClientFactory(company_name="Müller GmbH"))
    return WabaFactory(hub=hub, name="Müller WhatsApp", meta_waba_id="555000111")


def _member(client, role=Role.OWNER, username=None):
    user = UserFactory(username=username or f"{client.pk}-{role}")
    ClientMembership.objects.create(user=user, client=client, role=role)
    return user


@pytest.fixture
def owner(client, waba):
    user = _member(waba.hub.client)
    client.force_login(user)
    return user


def _onboard(client, waba, e164="+4915199990001", tier="regular"):
    tier_id = LicenseTier.objects.get(code=tier).pk
    return client.post("/client/numbers/onboard/", {"waba": waba.pk, "e164": e164, "tier": tier_id})


def test_list_shows_numbers_with_tier_status_and_license_state(client, owner, waba, django_assert_max_num_queries):
    licensed = PhoneNumberFactory(waba=waba, e164="+4915112345678", display_name="Shop")
    PhoneNumber.objects.filter(pk=licensed.pk).update(licensed_through=dt.date(2026, 9, 1))
    leaving = PhoneNumberFactory(
        waba=waba, e164="+4915112345679", tier=LicenseTier.objects.get(code="premium"),
        status=PhoneNumber.Status.PENDING_DELETION, deletion_requested_at=dt.datetime(2026, 9, 10, tzinfo=dt.UTC),
    )  # fmt: skip
    gone = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    PhoneNumberFactory(waba=waba, e164="+4915112340000", status=PhoneNumber.Status.DELETED, deleted_at=gone)
    PhoneNumberFactory(e164="+4915100000000")  # another client's

    with django_assert_max_num_queries(10):
        response = client.get("/client/numbers/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "Müller WhatsApp" in page and "555000111" in page and "HUB-NUMBERS1" in page
    row = page.split(f'id="number-{licensed.pk}"')[1].split("</tr>")[0]
    assert "+4915112345678" in row and "Shop" in row and "Regular" in row and "€25.00" in row
    assert '<span class="badge ok">Active</span>' in row
    assert "Licensed through 30 Sep 2026" in row
    row = page.split(f'id="number-{leaving.pk}"')[1].split("</tr>")[0]
    assert "Premium" in row and "€49.00" in row and "Pending deletion" in row
    assert "License invoice pending" in row
    assert "Removed after 30 Sep 2026" in row
    assert "Request deletion" not in row  # already requested
    assert "+4915112340000" not in page  # deleted numbers are gone
    assert "+4915100000000" not in page
    assert "License unpaid" not in page


def test_an_unpaid_license_is_shown_on_the_hubs_numbers(client, owner, waba):
    number = PhoneNumberFactory(waba=waba)
    Restriction.objects.create(
        hub=waba.hub, blocks=Blocks.OUTBOUND_MESSAGING, reason=RestrictionReason.LICENSE_UNPAID,
        detail="License invoice INV-2026-000042 unpaid", started_at=timezone.now(),
    )  # fmt: skip

    page = client.get("/client/numbers/").content.decode()

    assert "License invoice INV-2026-000042 unpaid: outbound messages of this hub are paused" in page
    row = page.split(f'id="number-{number.pk}"')[1].split("</tr>")[0]
    assert '<span class="badge unpaid">Unpaid</span>' in row


def test_a_client_without_a_waba_sees_the_empty_state(client):
    client.force_login(_member(ClientFactory()))

    page = client.get("/client/numbers/").content.decode()

    assert "No WhatsApp Business Account is connected yet." in page
    assert "Onboard a number" not in page


def test_onboarding_creates_the_number_and_issues_its_prorated_license_invoice(
    client, owner, waba, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _onboard(client, waba, e164="+49 151 9999-0001")

    assert response.status_code == 302
    assert response["Location"] == "/client/numbers/"
    number = PhoneNumber.objects.get(waba=waba)
    assert (number.e164, number.tier.code, number.onboarded_at) == ("+4915199990001", "regular", NOW)
    invoice = Invoice.objects.get(hub=waba.hub, kind=InvoiceKind.LICENSE_NEW_NUMBERS)
    assert invoice.net_amount == Decimal("12.50")  # 25.00 × 15/30
    assert (invoice.period_start, invoice.period_end) == (dt.date(2026, 9, 16), dt.date(2026, 10, 1))
    number.refresh_from_db()
    assert number.licensed_through == dt.date(2026, 9, 1)
    page = client.get("/client/numbers/").content.decode()
    assert "+4915199990001 is onboarded." in page
    assert "Licensed through 30 Sep 2026" in page


def test_the_onboarding_form_offers_only_the_clients_own_wabas_and_the_prorated_fees(client, owner, waba):
    WabaFactory(name="Someone else's WABA")

    page = client.get("/client/numbers/onboard/").content.decode()

    assert "Müller WhatsApp" in page
    assert "Someone else&#x27;s WABA" not in page
    assert "Regular (€25.00 a month)" in page
    assert "Regular €12.50, Premium €24.50" in page


@pytest.mark.parametrize(
    ("e164", "error"),
    [
        ("015112345678", "Enter the number in international format, starting with + and the country code."),
        ("+49 151", "+49 151 is not a valid phone number."),
        ("+4915112345678", "+4915112345678 is already onboarded."),
    ],
)
def test_a_rejected_onboarding_changes_nothing(client, owner, waba, e164, error, django_capture_on_commit_callbacks):
    PhoneNumberFactory(e164="+4915112345678")  # live on another client's WABA
    before = PhoneNumber.objects.count()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = _onboard(client, waba, e164=e164)

    assert response.status_code == 200
    assert error in response.content.decode()
    assert PhoneNumber.objects.count() == before
    assert Invoice.objects.count() == 0
    assert callbacks == []


def test_a_number_deleted_before_can_be_onboarded_again(client, owner, waba, django_capture_on_commit_callbacks):
    PhoneNumberFactory(
        e164="+4915112345678", status=PhoneNumber.Status.DELETED, deleted_at=dt.datetime(2026, 8, 1, tzinfo=dt.UTC)
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = _onboard(client, waba, e164="+4915112345678")

    assert response.status_code == 302
    assert PhoneNumber.objects.filter(e164="+4915112345678", status=PhoneNumber.Status.ACTIVE, waba=waba).exists()


def test_onboarding_onto_another_clients_waba_is_refused(client, owner, waba):
    foreign = WabaFactory()

    response = _onboard(client, foreign)

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not PhoneNumber.objects.exists()


def test_a_viewer_sees_the_numbers_but_cannot_change_them(client, waba):
    number = PhoneNumberFactory(waba=waba)
    client.force_login(_member(waba.hub.client, Role.VIEWER))

    page = client.get("/client/numbers/").content.decode()
    assert number.e164 in page
    assert "Onboard a number" not in page
    assert "Request deletion" not in page

    assert client.get("/client/numbers/onboard/").status_code == 403
    assert _onboard(client, waba).status_code == 403
    assert client.post(f"/client/numbers/{number.pk}/delete/").status_code == 403
    number.refresh_from_db()
    assert number.status == PhoneNumber.Status.ACTIVE
    assert PhoneNumber.objects.count() == 1


def test_billing_user_requests_a_deletion_pending_until_month_end(client, waba):
    number = PhoneNumberFactory(waba=waba)
    client.force_login(_member(waba.hub.client, Role.BILLING))
    assert "Request deletion" in client.get("/client/numbers/").content.decode()

    response = client.post(f"/client/numbers/{number.pk}/delete/", follow=True)

    number.refresh_from_db()
    assert number.status == PhoneNumber.Status.PENDING_DELETION
    assert number.deletion_requested_at == NOW
    page = response.content.decode()
    assert "Deletion of +4915110000" in page
    assert "It stays licensed and working until it is removed after 30 Sep 2026." in page


def test_deletion_is_post_only_and_scoped_to_the_clients_numbers(client, owner, waba):
    mine = PhoneNumberFactory(waba=waba)
    theirs = PhoneNumberFactory()

    assert client.get(f"/client/numbers/{mine.pk}/delete/").status_code == 405
    assert client.post(f"/client/numbers/{theirs.pk}/delete/").status_code == 404
    assert client.post("/client/numbers/999999/delete/").status_code == 404

    theirs.refresh_from_db()
    mine.refresh_from_db()
    assert (theirs.status, mine.status) == (PhoneNumber.Status.ACTIVE, PhoneNumber.Status.ACTIVE)


def test_a_partner_user_cannot_open_the_client_numbers(client, waba):
    from partners.models import PartnerMembership

    user = UserFactory(username="partner-user")
    PartnerMembership.objects.create(user=user, partner=waba.hub.client.partner, role=Role.OWNER)
    client.force_login(user)

    assert client.get("/client/numbers/").status_code == 403


def test_onboarding_sets_the_meta_phone_number_id(client, owner, waba, django_capture_on_commit_callbacks):
    tier_id = LicenseTier.objects.get(code="regular").pk
    form = {"waba": waba.pk, "e164": "+4915199990001", "tier": tier_id, "meta_phone_number_id": "106540352242922"}

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/client/numbers/onboard/", form)

    assert response.status_code == 302
    assert PhoneNumber.objects.get(waba=waba).meta_phone_number_id == "106540352242922"
    assert "Meta phone number ID" in client.get("/client/numbers/onboard/").content.decode()


@pytest.mark.parametrize(
    ("meta_id", "error"),
    [
        ("1065-4035", "Meta&#x27;s phone number ID is a string of digits."),
        ("106540352242922", "Another number already has the Meta phone number ID 106540352242922."),
    ],
)
def test_a_bad_or_taken_meta_phone_number_id_onboards_nothing(client, owner, waba, meta_id, error):
    PhoneNumberFactory(e164="+4915112345678", meta_phone_number_id="106540352242922")  # another client's, live
    tier_id = LicenseTier.objects.get(code="regular").pk
    form = {"waba": waba.pk, "e164": "+4915199990001", "tier": tier_id, "meta_phone_number_id": meta_id}

    response = client.post("/client/numbers/onboard/", form)

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not PhoneNumber.objects.filter(waba=waba).exists()
    assert Invoice.objects.count() == 0
