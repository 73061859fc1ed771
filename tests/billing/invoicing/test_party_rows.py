"""What a set-based issuer decides about each billed hub from plain values (`hub_party_rows`) is what the drafts
path decides from the Client model (`company_of`, `language_of`, `card_payers`): the printed company snapshot
(a Brazilian client's CNPJ and state, a buyer reference), the invoice language (its choice, else its country's),
the tax treatment in that language, and the card."""

import json

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
        expected.append({
            "hub_id": hub.id, "client_id": client.id, "public_hub_id": hub.hub_id, "currency": hub.currency,
            "billed_company": {**company, "hub_id": hub.hub_id}, "tax_rate": str(tax.rate), "tax_label": tax.label,
            "tax_note": tax.note, "pays_by_card": ("client", client.id) in card, "language": language_of(client),
        })  # fmt: skip
    assert sorted(rows, key=lambda r: r["hub_id"]) == sorted(expected, key=lambda r: r["hub_id"])
    by_hub = {row["hub_id"]: row for row in rows}
    assert by_hub[hubs[0].id]["billed_company"]["tax_id"] == "11222333000181"
    assert by_hub[hubs[0].id]["billed_company"]["state"] == "SP"
    assert "tax_id" not in by_hub[hubs[1].id]["billed_company"]
    assert by_hub[hubs[1].id]["billed_company"]["buyer_reference"] == "04011000-1234512345-06"
    assert [by_hub[h.id]["language"] for h in hubs] == ["pt-br", "de", "en", "es"]  # no French invoices: English
    assert [by_hub[h.id]["pays_by_card"] for h in hubs] == [False, False, True, False]
    assert json.loads(json.dumps(rows)) == rows  # plain JSON values, for jsonb_to_recordset
