"""Numeric query results read as arrays, in chunks, on both stores."""

from __future__ import annotations

import numpy as np
from sqlalchemy import delete, func, insert, select

from recommender.store.arrays import fetch_array
from recommender.store.database import Database
from recommender.store.schema import StateEntry


def test_rows_come_back_as_one_array_and_the_transaction_goes_on_as_before(
    db: Database,
) -> None:
    with db.write() as conn:
        conn.execute(
            insert(StateEntry),
            [{"key": f"k{i}", "value": "", "version": i} for i in range(5)],
        )
        versions = fetch_array(
            conn, select(StateEntry.version, StateEntry.version * 2).order_by(StateEntry.key), 2
        )
        # A streamed read must leave the connection as it was: later writes of the same
        # transaction are plain statements, which PostgreSQL cannot run as a cursor.
        conn.execute(delete(StateEntry).where(StateEntry.version >= 3))
        left = conn.execute(select(func.count()).select_from(StateEntry)).scalar_one()
    np.testing.assert_array_equal(versions, [[i, 2 * i] for i in range(5)])
    assert left == 3


def test_no_rows_is_an_empty_array_of_the_asked_width(db: Database) -> None:
    with db.snapshot() as conn:
        found = fetch_array(conn, select(StateEntry.version, StateEntry.version), 2)
    assert found.shape == (0, 2)
