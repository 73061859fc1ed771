"""The beat schedule, declared in one place. django-celery-beat's DatabaseScheduler installs these entries
(staff can see and pause them in admin under Periodic tasks)."""

from celery.schedules import crontab

BEAT_SCHEDULE = {
    # Every billing job due today, as billing/invoicing/calendar.py's JOBS declares them (the 1st: licenses, month
    # closing, partner plans; the last day: prepayments; daily: the new-numbers sweep), fanned out in chunks. Just
    # after midnight UTC, so the month is complete. A missed day is made up by the next run.
    "billing-day": {"task": "billing.run_day", "schedule": crontab(hour=0, minute=5)},
    # Behind the evaluation done with every money event: catches anything a lost transaction hook missed.
    "restrictions-sweep": {"task": "billing.restrictions_sweep", "schedule": crontab(minute="*/5")},
    "ledger-audit-nightly": {"task": "billing.ledger_audit", "schedule": crontab(hour=2, minute=30)},
}

# Payments: charge pending invoices (each invoice once: its attempts are keyed), retry unpaid ones on the dunning
# schedule, and bring anything a crash or a lost webhook left open to an end.
BEAT_SCHEDULE |= {
    "charge-pending": {"task": "billing.charge_pending", "schedule": crontab(minute="*")},
    "dunning": {"task": "billing.dunning_run", "schedule": crontab(minute=20)},
    "payments-reconcile": {"task": "billing.payments_reconcile", "schedule": crontab(minute="*/15")},
}

# Invoice delivery: every issued invoice still not emailed 15 minutes after issue is queued again (its task was lost
# with the broker or a worker, or the mail server refused it through all the task's retries).
BEAT_SCHEDULE |= {
    "invoice-delivery-sweep": {"task": "billing.delivery_sweep", "schedule": crontab(minute="*/15")},
}

# Warnings ahead of trouble: cards about to expire (daily), outbound webhook retries (every minute), and the
# partners' weekly digest of clients at risk (Monday morning).
BEAT_SCHEDULE |= {
    "card-expiry-reminders": {"task": "billing.card_expiry_reminders", "schedule": crontab(hour=7, minute=0)},
    "webhook-deliveries": {"task": "billing.webhook_deliveries_due", "schedule": crontab(minute="*")},
    "partner-risk-digest": {
        "task": "billing.partner_risk_digest", "schedule": crontab(hour=7, minute=30, day_of_week="mon"),
    },
}

# Meta's pricing analytics of yesterday (and the day before) for every WABA, reconciled against what was rated.
BEAT_SCHEDULE |= {
    "meta-pricing-analytics": {"task": "billing.meta_pricing_analytics", "schedule": crontab(hour=6, minute=15)},
}

# Meta webhooks are stored as received and drained by a task queued with each; this catches what a lost task left.
BEAT_SCHEDULE |= {
    "meta-webhooks-sweep": {"task": "billing.meta_webhooks_drain", "schedule": crontab(minute="*")},
    # and the webhooks rated more than META_WEBHOOK_INBOX_RETENTION_DAYS ago are deleted, at night
    "meta-webhooks-purge": {"task": "billing.meta_webhooks_purge", "schedule": crontab(hour=3, minute=40)},
}

# A send-permission change reaches the platform's stream on its commit; this publishes what a dead process or a
# Redis outage left unpublished (billing.send_permission_stream).
BEAT_SCHEDULE |= {
    "send-permission-sweep": {"task": "billing.send_permission_sweep", "schedule": crontab(minute="*")},
}
