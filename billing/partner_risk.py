"""Clients at risk, for their partner: service paused or about to be. A client is at risk when, for any of its
hubs, the forecast says the credit runs out within 3 days (and auto-renewal cannot refill it), outbound messaging
is blocked, a license or Month Closing Invoice is unpaid, or when every card it saved expires within 30 days.

Said in words a partner may see: states, never a client invoice's number or amount. Shown on the Partner Hub's
overview and emailed every Monday to each partner user who has not turned the digest off.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import translation
from django.utils.translation import gettext as _

from billing import formats
from billing.balance_alerts import card_expires_on
from billing.forecast import forecasts_for
from billing.models import Invoice, InvoiceKind, InvoiceStatus, PaymentMethod, PaymentMethodKind, Restriction
from billing.restrictions import LICENSE_KINDS
from clients.models import Client
from core import clock
from hub.models import Hub
from partners.models import Partner, PartnerMembership

RUNS_OUT_WITHIN_DAYS = 3
CARD_EXPIRES_WITHIN_DAYS = 30


@dataclass(frozen=True)
class RiskReason:
    code: str  # runs_out | blocked | license_unpaid | mci_unpaid | card_expiring
    text: str


@dataclass
class ClientAtRisk:
    client: Client
    reasons: list[RiskReason] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return "; ".join(reason.text for reason in self.reasons)


def _day(day: dt.date) -> str:
    return formats.day(day)


def _forecast_reasons(hubs: list[Hub], several: dict[int, bool]) -> dict[int, list[RiskReason]]:
    found: dict[int, list[RiskReason]] = defaultdict(list)
    for hub_id, forecast in forecasts_for(hub_ids=[h.id for h in hubs]).items():
        if forecast.state == "runs_out" and forecast.runs_out_within(RUNS_OUT_WITHIN_DAYS):
            hub = next(h for h in hubs if h.id == hub_id)
            text = _("credit runs out on %(date)s at the last 7 days' rate") % {"date": _day(forecast.lasts_until)}
            if several[hub.client_id]:
                text += f" ({hub.name})"
            found[hub.client_id].append(RiskReason("runs_out", text))
    return found


def _blocked_reasons(client_ids: list[int]) -> dict[int, list[RiskReason]]:
    found: dict[int, list[RiskReason]] = defaultdict(list)
    rows = Restriction.objects.filter(hub__client_id__in=client_ids, lifted_at__isnull=True).select_related("hub")
    for row in rows.order_by("started_at", "id"):
        text = _("outbound messaging paused (%(reason)s)") % {"reason": row.get_reason_display().lower()}
        found[row.hub.client_id].append(RiskReason("blocked", text))
    return found


def _unpaid_reasons(client_ids: list[int]) -> dict[int, list[RiskReason]]:
    found: dict[int, list[RiskReason]] = defaultdict(list)
    kinds = (*LICENSE_KINDS, InvoiceKind.MONTH_CLOSING)
    rows = Invoice.objects.filter(client_id__in=client_ids, kind__in=kinds, status=InvoiceStatus.UNPAID)
    for client_id, kind in rows.values_list("client_id", "kind").distinct().order_by("client_id", "kind"):
        if kind == InvoiceKind.MONTH_CLOSING:
            reason = RiskReason("mci_unpaid", _("Month Closing Invoice unpaid"))
        else:
            reason = RiskReason("license_unpaid", _("license invoice unpaid"))
        if reason not in found[client_id]:
            found[client_id].append(reason)
    return found


def _card_reasons(client_ids: list[int], today: dt.date) -> dict[int, list[RiskReason]]:
    """Every saved card of the client expires within 30 days (one valid card beyond that is enough)."""
    latest: dict[int, dt.date] = {}
    for card in PaymentMethod.objects.filter(client_id__in=client_ids, kind=PaymentMethodKind.CARD):
        expires_on = card_expires_on(card)
        if expires_on is None:
            expires_on = dt.date.max  # expiry unknown: not a warning
        latest[card.client_id] = max(latest.get(card.client_id, dt.date.min), expires_on)
    horizon = today + dt.timedelta(days=CARD_EXPIRES_WITHIN_DAYS)
    return {
        client_id: [RiskReason("card_expiring", _("card on file expires on %(date)s") % {"date": _day(day)})]
        for client_id, day in latest.items()
        if day <= horizon
    }


def clients_at_risk(*, partner: Partner) -> list[ClientAtRisk]:
    """The partner's clients at risk, by name, each with its reasons. A fixed number of queries (one more per
    distinct hub time zone) whatever the number of clients."""
    clients = {c.id: c for c in Client.objects.filter(partner=partner)}
    if not clients:
        return []
    ids = list(clients)
    hubs = list(Hub.objects.filter(client_id__in=ids).only("id", "client_id", "name", "hub_id"))
    per_client = defaultdict(int)
    for hub in hubs:
        per_client[hub.client_id] += 1
    several = {client_id: per_client[client_id] > 1 for client_id in ids}
    reasons: dict[int, list[RiskReason]] = defaultdict(list)
    sources = (_blocked_reasons(ids), _forecast_reasons(hubs, several), _unpaid_reasons(ids),
               _card_reasons(ids, clock.now().date()))  # fmt: skip
    for source in sources:
        for client_id, found in source.items():
            reasons[client_id].extend(found)
    at_risk = [ClientAtRisk(clients[client_id], found) for client_id, found in reasons.items() if found]
    return sorted(at_risk, key=lambda row: (row.client.company_name.lower(), row.client.id))


def _digest_body(*, partner: Partner, user, at_risk: list[ClientAtRisk]) -> str:
    lines = "\n".join(f"- {row.client.company_name}: {row.summary}" for row in at_risk)
    return _(
        "Hello %(name)s,\n\nthese clients of %(partner)s may have their service paused soon:\n\n%(lines)s\n\n"
        "See them under Clients at risk on the overview of the Partner Hub. To stop this weekly email, turn it off "
        "there."
    ) % {"name": user.get_full_name() or user.get_username(), "partner": partner.name, "lines": lines}


def risk_digests_send() -> int:
    """The weekly digest: one email per partner user who wants it, for partners with a client at risk."""
    sent = 0
    members = PartnerMembership.objects.filter(risk_digest=True).exclude(user__email="").select_related("user")
    by_partner: dict[int, list] = defaultdict(list)
    for member in members:
        by_partner[member.partner_id].append(member.user)
    for partner in Partner.objects.filter(id__in=by_partner).order_by("id"):
        with translation.override(partner.billing_language):  # the reasons' texts too: built in the language
            sent += _partner_digests_send(partner=partner, users=by_partner[partner.id])
    return sent


def _partner_digests_send(*, partner: Partner, users: list) -> int:
    at_risk = clients_at_risk(partner=partner)
    if not at_risk:
        return 0
    subject = _("Clients at risk this week: %(count)s of %(partner)s") % {
        "count": len(at_risk), "partner": partner.name}  # fmt: skip
    for user in users:
        body = _digest_body(partner=partner, user=user, at_risk=at_risk)
        EmailMessage(subject=subject, body=f"{body}\n\n{settings.PROVIDER_NAME}\n", to=[user.email]).send()
    return len(users)
