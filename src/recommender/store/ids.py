"""Ids for a group of rows, taken before the group is inserted in one statement."""

from __future__ import annotations

from sqlalchemy import Connection, text

_NEXT_IDS = text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)")


def take_ids(conn: Connection, table: str, n: int) -> list[int]:
    """`n` new ids of `table`, ascending, so that a group's later rows get larger ids.

    Asked to return the ids of a multi-row insert in row order instead, SQLAlchemy inserts one
    row per statement on SQLite (which promises no order for a multi-row insert's rows).
    PostgreSQL draws them from the table's sequence. On SQLite they are the ones SQLite would
    give (the largest so far plus one; the tables have no AUTOINCREMENT), and nobody can take
    them first: the store writer's transaction holds the database's write lock from its BEGIN
    IMMEDIATE. A writer that raced it anyway would fail on the primary key, never overwrite a
    row."""
    if conn.dialect.name == "postgresql":
        drawn = conn.execute(_NEXT_IDS, {"table": table, "n": n}).scalars()
        return sorted(int(i) for i in drawn)
    # `table` is one of the schema's own names, never a caller's input.
    last = conn.execute(text(f"SELECT max(id) FROM {table}")).scalar_one_or_none() or 0
    return list(range(last + 1, last + 1 + n))
