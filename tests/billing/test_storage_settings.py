"""Storage settings the hot paths rely on, as the migrations leave the database (PostgreSQL only)."""

import pytest
from django.db import connection

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

# The rows updated in place many times a second keep room on their pages, so the updates are heap-only (no index
# entry per update): billing 0031 (accounts, volume counters) and hub 0007 (phone numbers).
EXPECTED_FILLFACTORS = {"billing_creditaccount": 10, "billing_usagevolumecounter": 30, "hub_phonenumber": 50}


def test_tables_updated_in_place_keep_room_on_their_pages():
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s)", [list(EXPECTED_FILLFACTORS)])
        options = {name: set(reloptions or ()) for name, reloptions in cursor.fetchall()}
    assert options == {name: {f"fillfactor={value}"} for name, value in EXPECTED_FILLFACTORS.items()}


def test_a_usage_message_id_is_unique_through_one_index():
    """Once per message is the unique index's job; the prefix-search (varchar_pattern_ops) twin that a unique
    CharField brings on PostgreSQL would double every insert's random leaf writes (billing 0032)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'billing_messageusage' AND indexdef LIKE %s",
            ["%(message_id%"],
        )
        definitions = [definition for (definition,) in cursor.fetchall()]
    assert len(definitions) == 1
    assert definitions[0].startswith("CREATE UNIQUE INDEX usage_message_id_unique ")
