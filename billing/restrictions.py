"""Suspension and automatic resumption (the seeds' "Payment Failures & Service Suspensions").

Outbound messaging of a hub is blocked while its credit balance is 0.00 or below, or while a license invoice of
it is unpaid (its automatic charge failed); onboarding new clients is blocked for a partner while a Partner Plan
invoice is unpaid. `restrictions_evaluate` compares what should be blocked with what is, starts and lifts
Restriction rows, and is called in the same transaction as every money event (ledger posting, invoice paid or
failed or voided) and by a beat sweep; so once payments are received and applied, services resume by themselves.
"""

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import DatabaseError, transaction
from django.db.models import Q
from redis.exceptions import RedisError

from billing.models import (
    BLOCKS_OF,
    Blocks,
    CreditAccount,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Restriction,
    RestrictionReason,
)
from billing.send_permission import send_permission_forget
from billing.send_permission_stream import send_permission_publish, send_permission_unpublished_mark
from billing.sql import one_of
from core import clock

log = logging.getLogger(__name__)
LICENSE_KINDS = (InvoiceKind.LICENSE, InvoiceKind.LICENSE_NEW_NUMBERS)
LIFTED_BECAUSE = {
    RestrictionReason.CREDIT_BALANCE_DEPLETED: "Credit balance is above 0.00 again",
    RestrictionReason.LICENSE_UNPAID: "License invoice paid",
    RestrictionReason.PARTNER_PLAN_UNPAID: "Partner Plan invoice paid",
}
DEFAULT_HOLD = dt.timedelta(hours=72)
ALL_REASONS = frozenset(RestrictionReason.values)

Key = tuple[str, int, str]  # ("hub" | "partner", subject id, reason)


class RestrictionError(ValueError):
    pass


class OnboardingBlocked(Exception):
    """Onboarding a client under this partner is refused; the message says why and what to do."""


@dataclass
class RestrictionChanges:
    started: list[Restriction] = field(default_factory=list)
    lifted: list[Restriction] = field(default_factory=list)


def _desired_for_hubs(hub_ids: Sequence[int]) -> dict[Key, str]:
    desired: dict[Key, str] = {}
    for hub_id, balance, currency in CreditAccount.objects.filter(
        one_of("hub__id", hub_ids), balance__lte=0
    ).values_list("hub_id", "balance", "currency"):
        desired[("hub", hub_id, RestrictionReason.CREDIT_BALANCE_DEPLETED)] = f"Credit balance {balance:.2f} {currency}"
    for hub_id, number in Invoice.objects.filter(
        one_of("hub__id", hub_ids), kind__in=LICENSE_KINDS, status=InvoiceStatus.UNPAID
    ).values_list("hub_id", "number"):
        desired[("hub", hub_id, RestrictionReason.LICENSE_UNPAID)] = f"License invoice {number} unpaid"
    return desired


def _desired_for_partners(partner_ids: Sequence[int]) -> dict[Key, str]:
    return {
        ("partner", partner_id, RestrictionReason.PARTNER_PLAN_UNPAID): f"Partner Plan invoice {number} unpaid"
        for partner_id, number in Invoice.objects.filter(
            one_of("partner__id", partner_ids), kind=InvoiceKind.PARTNER_PLAN, status=InvoiceStatus.UNPAID
        ).values_list("partner_id", "number")
    }


def _key(restriction: Restriction) -> Key:
    if restriction.hub_id:
        return ("hub", restriction.hub_id, restriction.reason)
    return ("partner", restriction.partner_id, restriction.reason)


def restrictions_evaluate(
    *,
    hub_ids: Iterable[int] = (),
    partner_ids: Iterable[int] = (),
    reasons: Iterable[str] | None = None,
    desired: dict[Key, str] | None = None,
) -> RestrictionChanges:
    """Bring the restrictions of these hubs and partners in line with their money, in the caller's transaction.
    `reasons` limits which reasons are looked at; `desired` (for those reasons) may be given by a caller that
    already knows it, such as the ledger with the balances it just locked."""
    hub_ids, partner_ids = sorted(set(hub_ids)), sorted(set(partner_ids))
    if not hub_ids and not partner_ids:
        return RestrictionChanges()
    reasons = set(reasons or ALL_REASONS)
    if desired is None:
        desired = {**_desired_for_hubs(hub_ids), **_desired_for_partners(partner_ids)}
    desired = {key: detail for key, detail in desired.items() if key[2] in reasons}
    now = clock.now()
    subjects = one_of("hub__id", hub_ids) | one_of("partner__id", partner_ids)
    rows = Restriction.objects.filter(subjects, reason__in=reasons).filter(
        Q(lifted_at__isnull=True) | Q(override_until__gt=now)
    )
    active, held = {}, set()
    for row in rows:
        if row.lifted_at is None:
            active[_key(row)] = row
        else:
            held.add(_key(row))
    return _apply(active, held, desired, now)


def _apply(active: dict[Key, Restriction], held: set[Key], desired: dict[Key, str], now) -> RestrictionChanges:
    changes = RestrictionChanges()
    for key, detail in desired.items():
        if key not in active and key not in held:
            subject, subject_id, reason = key
            changes.started.append(
                Restriction(
                    hub_id=subject_id if subject == "hub" else None,
                    partner_id=subject_id if subject == "partner" else None,
                    blocks=BLOCKS_OF[reason],
                    reason=reason,
                    detail=detail,
                    started_at=now,
                )  # fmt: skip
            )
    lifted = [row for key, row in active.items() if key not in desired]
    if changes.started:
        Restriction.objects.bulk_create(changes.started)
    for reason, because in LIFTED_BECAUSE.items():
        rows = [row for row in lifted if row.reason == reason]
        if rows:
            Restriction.objects.filter(one_of("id", [r.id for r in rows])).update(lifted_at=now, lift_reason=because)
            for row in rows:
                row.lifted_at, row.lift_reason = now, because
    changes.lifted = lifted
    _announce(changes)
    if changes.started or changes.lifted:
        from billing.partner_events import restriction_events_publish

        restriction_events_publish(started=changes.started, lifted=changes.lifted)
    return changes


def _announce(changes: RestrictionChanges) -> None:
    """Tell whoever caches the answer to "may this hub send?" that it changed, once the transaction commits."""
    hub_ids = {r.hub_id for r in changes.started + changes.lifted if r.hub_id}
    if hub_ids:
        send_permission_unpublished_mark(hub_ids=hub_ids)  # in this transaction: kept exactly if it commits
        transaction.on_commit(lambda: _announce_committed(hub_ids))


def _announce_committed(hub_ids: set[int]) -> None:
    send_permission_forget(hub_ids=hub_ids)
    # After the cache is cleared, so a platform that reads the change and asks directly gets the new answer. The
    # money event has committed: a Redis outage is logged, not raised into its caller; the hubs stay marked
    # unpublished and beat's sweep publishes them (and the platform's next snapshot is always right).
    try:
        send_permission_publish(hub_ids=hub_ids)
    except (RedisError, DatabaseError):
        log.exception("Could not publish the send permission of hubs %s to the stream", sorted(hub_ids))


def restrictions_on_balances(*, accounts: Iterable[CreditAccount]) -> RestrictionChanges:
    """The ledger's hook: balances just moved under lock; block at 0.00 or below, lift above it. One query when
    nothing changes."""
    accounts = list(accounts)
    desired = {
        ("hub", a.hub_id, RestrictionReason.CREDIT_BALANCE_DEPLETED): f"Credit balance {a.balance:.2f} {a.currency}"
        for a in accounts
        if a.balance <= 0
    }
    return restrictions_evaluate(
        hub_ids=[a.hub_id for a in accounts], reasons=[RestrictionReason.CREDIT_BALANCE_DEPLETED], desired=desired
    )


def restriction_lift(
    *, restriction: Restriction, user_id: int, reason: str, hold_until: dt.datetime | None = None
) -> Restriction:
    """Staff lift a block by hand, with a reason; it stays lifted until `hold_until` (default 72 hours) even if the
    cause remains, then the next evaluation blocks again if it still does."""
    if not reason.strip():
        raise RestrictionError("Lifting a restriction needs a reason.")
    now = clock.now()
    with transaction.atomic():
        restriction = Restriction.objects.select_for_update().get(pk=restriction.pk)
        if restriction.lifted_at is not None:
            raise RestrictionError("This restriction is already lifted.")
        restriction.lifted_at, restriction.lifted_by_id = now, user_id
        restriction.lift_reason, restriction.override_until = reason, hold_until or now + DEFAULT_HOLD
        restriction.save(update_fields=["lifted_at", "lifted_by", "lift_reason", "override_until"])
        _announce(RestrictionChanges(lifted=[restriction]))
        from billing.partner_events import restriction_events_publish

        restriction_events_publish(started=[], lifted=[restriction])
    return restriction


def onboarding_check(*, partner_id: int) -> None:
    """Refuse onboarding a client under a partner whose onboarding is blocked, saying why."""
    blocks = Restriction.objects.filter(
        partner_id=partner_id, blocks=Blocks.CLIENT_ONBOARDING, lifted_at__isnull=True
    ).values_list("detail", flat=True)
    details = list(blocks)
    if details:
        raise OnboardingBlocked(
            "Onboarding new clients is paused: " + "; ".join(details) + ". Pay it in the Invoicing section of the "
            "Partner Hub and onboarding resumes automatically."
        )
