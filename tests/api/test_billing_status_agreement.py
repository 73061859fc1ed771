"""One selector answers "what is this client's billing status?" for the Partner Hub page and the partner API, so
the two always agree (issue 10: they disagreed when a client's newest invoice was paid and an older one pending)."""

import datetime as dt
from datetime import UTC

import pytest

from billing.invoicing.licenses import license_issue
from billing.invoicing.settlement import invoice_mark_paid
from billing.models import InvoiceStatus
from core import clock
from tests.portal.conftest import partner_member

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def badge_cells(html: str, client) -> list[str]:
    row = html.split(f'<tr data-client="{client.pk}">')[1].split("</tr>")[0]
    return [cell.split("</td>")[0].strip() for cell in row.split("<td>")[2:4]]  # License, Month closing


def test_page_and_api_show_the_same_status_when_an_older_license_invoice_is_still_pending(world, client):
    october, november = dt.date(2026, 10, 1), dt.date(2026, 11, 1)
    world.number_b.onboarded_at = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    world.number_b.save(update_fields=["onboarded_at"])
    (older,) = license_issue(hub_ids=[world.hub_b.pk], month=october, issued_at=dt.datetime(2026, 10, 1, tzinfo=UTC))
    (newer,) = license_issue(hub_ids=[world.hub_b.pk], month=november, issued_at=dt.datetime(2026, 11, 1, tzinfo=UTC))
    invoice_mark_paid(invoice=newer, paid_at=clock.now())
    older.refresh_from_db()
    assert older.status == InvoiceStatus.PENDING  # being charged: the newest is paid, this one is not yet
    partner_member(client, world.partner, "viewer")

    page = badge_cells(client.get("/partner/clients/").content.decode(), world.client_b)
    api = next(r for r in world.api("partner").get("/api/v1/partner/clients").json()["results"]
               if r["id"] == world.client_b.pk)  # fmt: skip

    assert api["license_status"] == "pending"
    assert page[0] == '<span class="badge pending">Pending</span>'
    assert (api["mci_status"], page[1]) == ("none", '<span class="muted">—</span>')
