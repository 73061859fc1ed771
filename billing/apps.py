from django.apps import AppConfig
from django.db.models.signals import post_migrate, pre_migrate


def _drop_sqlite_guards(sender, using="default", **kwargs):
    from billing.db_guards import sqlite_guards_drop

    sqlite_guards_drop(using)


def _create_sqlite_guards(sender, using="default", **kwargs):
    from billing.db_guards import sqlite_guards_create

    sqlite_guards_create(using)


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        # Register the Celery tasks in every process, so billing.queue can send them by name (eagerly in tests).
        from billing import tasks  # noqa: F401

        # SQLite rebuilds a table to alter it, which breaks triggers naming it: take the guards down for migrate.
        pre_migrate.connect(_drop_sqlite_guards, sender=self, dispatch_uid="billing_sqlite_guards_drop")
        post_migrate.connect(_create_sqlite_guards, sender=self, dispatch_uid="billing_sqlite_guards_create")
