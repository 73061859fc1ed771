"""The events a partner's webhooks receive, about its own clients only, and never a client invoice's content:

- client.blocked / client.unblocked: outbound messaging of one of its clients' hubs paused or resumed (one event
  per restriction: the reason says which);
- client.balance_low: a client hub's credit balance fell below the client's low-balance alert threshold;
- invoice.unpaid: one of the partner's own Partner Plan invoices could not be collected automatically;
- webhook.test: sent from the Webhooks page.

Each is published in the transaction of its cause; a partner without an active endpoint costs one query, and only
when something happened (a balance crossed a line, a block started or lifted, an invoice failed).
"""

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from billing.balance_alerts import low_balance_crossed
from billing.models import CreditAccount, Invoice, InvoiceKind, Restriction, WebhookEndpoint
from billing.outbound_webhooks import webhook_event_publish, webhook_events_publish
from hub.models import Hub

CLIENT_BLOCKED = "client.blocked"
CLIENT_UNBLOCKED = "client.unblocked"
CLIENT_BALANCE_LOW = "client.balance_low"
INVOICE_UNPAID = "invoice.unpaid"
WEBHOOK_TEST = "webhook.test"
EVENT_TYPES = (CLIENT_BLOCKED, CLIENT_UNBLOCKED, CLIENT_BALANCE_LOW, INVOICE_UNPAID, WEBHOOK_TEST)


def _utc(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if moment else None


def _amount(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _endpoints_by_partner(partner_ids: Iterable[int]) -> dict[int, list[WebhookEndpoint]]:
    found: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in WebhookEndpoint.objects.filter(partner_id__in=set(partner_ids), active=True).order_by("id"):
        found.setdefault(endpoint.partner_id, []).append(endpoint)
    return found


def _hubs(hub_ids: Iterable[int]) -> dict[int, Hub]:
    return {h.id: h for h in Hub.objects.filter(id__in=set(hub_ids)).select_related("client")}


def _client_part(hub: Hub) -> dict:
    return {
        "client": {"id": hub.client_id, "name": hub.client.company_name},
        "hub": {"hub_id": hub.hub_id, "name": hub.name},
    }


def restriction_events_publish(*, started: list[Restriction], lifted: list[Restriction]) -> None:
    """client.blocked / client.unblocked for hub restrictions that just started or lifted."""
    rows = [(CLIENT_BLOCKED, r) for r in started if r.hub_id] + [(CLIENT_UNBLOCKED, r) for r in lifted if r.hub_id]
    if not rows:
        return
    hubs = _hubs(r.hub_id for _, r in rows)
    partner_of = {hub.id: hub.client.partner_id for hub in hubs.values()}
    endpoints = _endpoints_by_partner(partner_of.values())
    if not endpoints:
        return
    for event_type, row in rows:
        targets = endpoints.get(partner_of[row.hub_id], [])
        if targets:
            payload = {
                **_client_part(hubs[row.hub_id]),
                "blocks": row.blocks,
                "reason": row.reason,
                "started_at": _utc(row.started_at),
                "lifted_at": _utc(row.lifted_at),
            }
            webhook_events_publish(endpoints=targets, event_type=event_type, payload=payload)


def balance_low_publish(*, accounts: Iterable[CreditAccount], before: dict[int, Decimal]) -> None:
    """client.balance_low for each balance that just fell below its client's alert threshold (the ledger's hook:
    no query unless one did)."""
    crossed = [a for a in accounts if low_balance_crossed(a, before[a.id])]
    if not crossed:
        return
    hubs = _hubs(a.hub_id for a in crossed)
    endpoints = _endpoints_by_partner(hub.client.partner_id for hub in hubs.values())
    for account in crossed:
        hub = hubs[account.hub_id]
        targets = endpoints.get(hub.client.partner_id, [])
        if targets:
            payload = {
                **_client_part(hub),
                "balance": _amount(account.balance),
                "threshold": _amount(account.low_balance_alert),
                "currency": account.currency,
            }
            webhook_events_publish(endpoints=targets, event_type=CLIENT_BALANCE_LOW, payload=payload)


def invoice_unpaid_publish(*, invoice: Invoice) -> None:
    """invoice.unpaid for a partner's own Partner Plan invoice (client invoices are never sent to partners)."""
    if invoice.kind != InvoiceKind.PARTNER_PLAN or not invoice.partner_id:
        return
    targets = _endpoints_by_partner([invoice.partner_id]).get(invoice.partner_id, [])
    if targets:
        payload = {"invoice": {
            "number": invoice.number, "kind": invoice.kind, "status": invoice.status,
            "period_start": invoice.period_start.isoformat() if invoice.period_start else None,
            "period_end": invoice.period_end.isoformat() if invoice.period_end else None,
            "total": _amount(invoice.total), "currency": invoice.currency,
            "issued_at": _utc(invoice.issued_at),
            "due_date": invoice.due_date.isoformat() if invoice.due_date else None,
        }}  # fmt: skip
        webhook_events_publish(endpoints=targets, event_type=INVOICE_UNPAID, payload=payload)


def webhook_test_send(*, endpoint: WebhookEndpoint):
    return webhook_event_publish(
        endpoint=endpoint, event_type=WEBHOOK_TEST, payload={"message": "A test event from the Partner Hub."}
    )
