"""Portal pages answer bad input with a 4xx, never a server error (issue 11): a NUL byte in a path or parameter, an
amount in anything but plain decimal notation."""

import uuid

import pytest

from billing.models import Invoice
from tests.factories import ClientFactory, HubFactory, PartnerFactory
from tests.portal.conftest import client_member, partner_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_hub(client):
    hub = HubFactory(client=ClientFactory(partner=PartnerFactory()))
    client_member(client, hub.client)
    return hub


@pytest.mark.parametrize(
    "path",
    ["/client/invoices/%00/", "/client/invoices/%00/pdf/", "/client/invoices/%00/pay/", "/client/invoices/INV%00x/"],
)
def test_a_nul_byte_in_a_client_path_is_404(client, client_hub, path):
    assert client.get(path).status_code == 404


def test_a_nul_byte_in_a_partner_path_is_404(client):
    partner_member(client, PartnerFactory())
    assert client.get("/partner/invoices/%00/").status_code == 404
    assert client.get("/partner/invoices/%00/pdf/").status_code == 404


@pytest.mark.parametrize("query", ["hub=%00", "hub=HUB-%00", "period=2026-11%00", "%00=1"])
def test_a_nul_byte_in_a_parameter_is_400(client, client_hub, query):
    response = client.get(f"/client/funds/?{query}")
    assert response.status_code == 400
    assert response.content.decode() == "A query parameter holds a NUL byte."


def test_a_nul_byte_in_an_api_parameter_is_400_in_the_error_shape(client):
    response = client.get("/api/v1/invoices?hub=%00")
    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "invalid", "message": "A query parameter holds a NUL byte.", "fields": {}}
    }


@pytest.mark.parametrize("amount", ["1e3", " 50 ", "\u0661\u0660\u0660", "50,00", "1_000"])
def test_add_funds_refuses_an_amount_not_in_plain_decimal_notation(client, client_hub, amount):
    response = client.post("/client/funds/add/", {"amount": amount, "request_key": uuid.uuid4(),
                                                  "hub": client_hub.hub_id})  # fmt: skip
    assert response.status_code == 400
    assert "Enter the amount in plain decimal notation, such as 50.00." in response.content.decode()
    assert not Invoice.objects.exists()


@pytest.mark.parametrize("field", ["auto_renew_threshold", "auto_renew_amount"])
def test_auto_renewal_refuses_an_amount_in_exponent_notation(client, client_hub, field):
    account = client_hub.credit_account
    before = (account.auto_renew, account.auto_renew_threshold, account.auto_renew_amount)
    data = {"auto_renew": "on", "auto_renew_threshold": "20.00", "auto_renew_amount": "50.00", "hub": client_hub.hub_id}
    response = client.post("/client/funds/auto-renewal/", {**data, field: "5e1"})
    assert response.status_code == 400
    assert "Enter the amount in plain decimal notation, such as 50.00." in response.content.decode()
    account.refresh_from_db()
    assert (account.auto_renew, account.auto_renew_threshold, account.auto_renew_amount) == before
