import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection

from billing.sql import array_literal

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_an_array_literal_reads_back_as_the_same_values():
    texts = ['quote " inside', "back\\slash", "comma, and {braces}", "NULL", "", " spaced "]
    plain = ["a", 'sep","arated', "b"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT %s::text[], %s::bigint[], %s::numeric[], %s::date[], %s::text[], %s::text[], %s::bigint[]",
            [
                array_literal(texts),
                array_literal([1, -2, 3_000_000_000]),
                array_literal([Decimal("-0.000001"), Decimal("12.340000")]),
                array_literal([dt.date(2026, 11, 1)]),
                array_literal(plain),
                array_literal(["x", "y"]),
                array_literal([]),
            ],
        )
        row = cursor.fetchone()

    assert row == (
        texts,
        [1, -2, 3_000_000_000],
        [Decimal("-0.000001"), Decimal("12.340000")],
        [dt.date(2026, 11, 1)],
        plain,
        ["x", "y"],
        [],
    )
