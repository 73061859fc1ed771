"""Usage and the rate card moved from the hub app to billing (issue 10). A database of the previous layout migrates
without losing a row: the tables are renamed, not recreated, and the content types follow the models."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from billing.models import MessageUsage, RateCardRate

MOVE = ("billing", "0011_usage_moves_from_hub")
BEFORE = [("billing", "0010_staff_actions"), ("hub", "0003_number_licensed_through")]


def _before_the_move() -> list[tuple[str, str]]:
    """billing and hub just before the move; every other app as far as it goes without it."""
    graph = MigrationExecutor(connection).loader.graph
    others = [
        node
        for node in graph.leaf_nodes()
        if node[0] not in ("billing", "hub") and MOVE not in graph.forwards_plan(node)
    ]
    return BEFORE + others


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


def _latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_a_database_of_the_previous_layout_keeps_its_usage_and_rates():
    before = _before_the_move()
    executor = _migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        day = dt.date(2026, 11, 3)
        old.get_model("hub", "RateCardRate").objects.create(
            effective_date=day, currency="EUR", market="DE", category="marketing", rate=Decimal("0.113100")
        )
        partner = old.get_model("partners", "Partner").objects.create(
            company_name="Old GmbH", country="DE", billing_email="b@old.example", name="Old", currency="EUR",
            plan=old.get_model("partners", "Plan").objects.first(),
        )  # fmt: skip
        client = old.get_model("clients", "Client").objects.create(
            company_name="Old Client", country="DE", billing_email="c@old.example", partner=partner
        )
        hub = old.get_model("hub", "Hub").objects.create(
            hub_id="HUB-OLDLAYOU", client=client, name="Old", currency="EUR"
        )
        waba = old.get_model("hub", "Waba").objects.create(hub=hub, meta_waba_id="1234567", name="Old WABA")
        number = old.get_model("hub", "PhoneNumber").objects.create(
            waba=waba, e164="+4915112345678", tier=old.get_model("hub", "LicenseTier").objects.first(),
            onboarded_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
        )  # fmt: skip
        old.get_model("hub", "MessageUsage").objects.create(
            message_id="wamid.before-the-move", hub=hub, waba=waba, phone_number=number, recipient_country="DE",
            market="DE", category="marketing", billable=False, sent_at=dt.datetime(2026, 11, 3, 9, tzinfo=dt.UTC),
            rate_date=day, rate=Decimal("0.113100"), cost=Decimal(0), currency="EUR", period=dt.date(2026, 11, 1),
            recorded_at=dt.datetime(2026, 11, 3, 9, tzinfo=dt.UTC),
        )  # fmt: skip
        usage_type = ContentType.objects.get_or_create(app_label="hub", model="messageusage")[0]
    finally:
        _migrate(_latest())

    usage = MessageUsage.objects.get()
    assert (usage.message_id, usage.phone_number.e164, usage.hub.hub_id) == (
        "wamid.before-the-move",
        "+4915112345678",
        "HUB-OLDLAYOU",
    )
    assert RateCardRate.objects.get().rate == Decimal("0.113100")
    assert MessageUsage._meta.db_table == "billing_messageusage"
    # The same content type row now names billing, so permissions and admin history follow the model.
    assert ContentType.objects.get(pk=usage_type.pk).app_label == "billing"
    assert "hub_messageusage" not in connection.introspection.table_names()
