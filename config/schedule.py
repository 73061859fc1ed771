"""The beat schedule, declared in one place. django-celery-beat's DatabaseScheduler installs these entries
(staff can see and pause them in admin under Periodic tasks)."""

from celery.schedules import crontab

BEAT_SCHEDULE = {
    "ledger-audit-nightly": {"task": "billing.ledger_audit", "schedule": crontab(hour=2, minute=30)},
}
