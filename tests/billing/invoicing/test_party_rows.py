"""What a set-based issuer decides about each billed hub from plain values (`hub_party_rows`) is what the drafts
path decides from the Client model (`company_of`, `language_of`, `card_payers`): the printed company snapshot
(a Brazilian client's CNPJ and state, a buyer reference), the invoice language (its choice, else its country's),
the tax treatment in that language, and the card."""

import pytest

from billing.invoicing.issue import card_payers, company_of, hub_party_rows, language_of
from billing.models import PaymentMethod, PaymentMethodKind
from tests.factories import ClientFactory, HubFactory, PartnerFactory


@pytest.mark.django_db
def test_the_party_rows_are_what_the_client_model_decides():
    clients = [
        ClientFactory(
            partner=PartnerFactory(currency="USD"), country="BR", tax_id="11222333000181", state="SP",
            invoice_language="", company_name="Rio Ltda",
        ),
        ClientFactory(country="DE", invoice_language="de", buyer_reference="04011000-1234512345-06"),
        ClientFactory(country="FR", vat_id="FR40303265045", invoice_language=""),
        ClientFactory(country="US", invoice_language="es"),
    ]  # fmt: skip
    PaymentMethod.objects.create(client=clients[2], kind=PaymentMethodKind.CARD, position=0)
    hubs = [HubFactory(client=client) for client in clients]

    rows = hub_party_rows(hubs=[(h.id, h.hub_id, h.client_id, h.currency) for h in hubs])

    card = card_payers(client_ids=[c.id for c in clients])
    expected = []
    for hub, client in zip(hubs, clients, strict=True):
        company, tax = company_of(client)
        expected.append((
            hub.id, client.id, hub.hub_id, hub.currency, {**company, "hub_id": hub.hub_id}, tax.rate, tax.label,
            tax.note, ("client", client.id) in card, language_of(client),
        ))  # fmt: skip
    assert sorted(rows) == sorted(expected)
    by_hub = {row[0]: row for row in rows}
    assert by_hub[hubs[0].id][4]["tax_id"] == "11222333000181" and by_hub[hubs[0].id][4]["state"] == "SP"
    assert "tax_id" not in by_hub[hubs[1].id][4]
    assert by_hub[hubs[1].id][4]["buyer_reference"] == "04011000-1234512345-06"
    assert [by_hub[h.id][9] for h in hubs] == ["pt-br", "de", "en", "es"]  # no French invoices: English
    assert [by_hub[h.id][8] for h in hubs] == [False, False, True, False]
