"""Property-based (hypothesis): the portal's and the API's pages with an object reference in the path answer any
path segment, and any value of their parameters, with a page or a 4xx: never a server error (issue 11). The Django
test client raises any exception a view lets through, so a crash fails the property."""

from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.keys import api_key_create
from tests.api.conftest import api_client
from tests.factories import ClientFactory, HubFactory, PartnerFactory
from tests.portal.conftest import client_member, partner_member

pytestmark = pytest.mark.django_db

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
segments = st.text(min_size=1, max_size=40).map(lambda s: quote(s, safe=""))
values = st.text(max_size=30)
CLIENT_PAGES = ["/client/invoices/{}/", "/client/invoices/{}/pdf/", "/client/invoices/{}/pay/"]


@pytest.fixture
def hub():
    return HubFactory(client=ClientFactory(partner=PartnerFactory()))


@PROPERTY
@given(segment=segments, page=st.sampled_from(CLIENT_PAGES))
def test_client_invoice_pages_answer_any_path_segment_with_a_4xx(client, hub, segment, page):
    client_member(client, hub.client)
    assert client.get(page.format(segment)).status_code in (404, 400)


@PROPERTY
@given(segment=segments)
def test_partner_invoice_pages_answer_any_path_segment_with_a_4xx(client, hub, segment):
    partner_member(client, hub.client.partner)
    assert client.get(f"/partner/invoices/{segment}/").status_code in (404, 400)


@PROPERTY
@given(params=st.dictionaries(st.sampled_from(["hub", "period", "kind", "status", "page"]), values, max_size=3))
def test_client_list_pages_answer_any_parameters_without_a_server_error(client, hub, params):
    client_member(client, hub.client)
    for page in ("/client/funds/", "/client/invoices/"):
        assert client.get(page, params).status_code in (200, 302, 400, 404)


@PROPERTY
@given(segment=segments, params=st.dictionaries(st.sampled_from(["hub", "period", "cursor", "page_size"]), values))
def test_api_references_and_filters_answer_with_a_4xx_in_the_error_shape(hub, segment, params):
    api = api_client(api_key_create(name="p", party=hub.client)[1])
    for response in (
        api.get(f"/api/v1/invoices/{segment}"),
        api.get("/api/v1/invoices", params),
        api.get("/api/v1/ledger-entries", params),
    ):
        assert response.status_code in (200, 400, 404), response.content
        if response.status_code != 200:
            assert set(response.json()["error"]) == {"code", "message", "fields"}
