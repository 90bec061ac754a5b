from __future__ import annotations

from recommender.store import state
from recommender.store.database import Database


def test_put_moves_the_version_forward(db: Database) -> None:
    with db.write() as conn:
        assert state.read(conn, "x") is None
        assert state.put(conn, "x", "a") == 1
        assert state.put(conn, "x", "b") == 2
    with db.engine.connect() as conn:
        assert state.read(conn, "x") == state.Versioned(value="b", version=2)
        assert set(state.read_all(conn)) == {"x"}
