"""Many rows into one PostgreSQL table by COPY, converted as an INSERT would convert them.

The impression log takes a row per answer, a batch at a time, on the thread the event loop
shares the interpreter with. Through `executemany` a 22-column row cost that thread about
27 us (SQLAlchemy's parameters, then psycopg's per-statement work) and PostgreSQL 20 us;
copied, 15 and 17.5 us (`benchmarks/impression_log.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Dialect, Table

Convert = Callable[[Any], Any] | None


@lru_cache(maxsize=64)
def _plan(
    table: Table, columns: tuple[str, ...], dialect: Dialect
) -> tuple[str, tuple[tuple[str, Convert], ...]]:
    """The COPY statement for `columns` of `table`, and each column with its bind conversion
    (its type's, on this dialect: JSON encoded as the engine encodes it, times in UTC)."""
    converts = tuple(
        (name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in columns
    )
    quoted = ", ".join(dialect.identifier_preparer.quote(name) for name in columns)
    table_name = dialect.identifier_preparer.format_table(table)
    return f"COPY {table_name} ({quoted}) FROM STDIN", converts


def copy_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` (each with the same keys, all of them columns of `table`) in the
    connection's transaction, as `conn.execute(insert(table), rows)` would on PostgreSQL."""
    if not rows:
        return
    statement, plan = _plan(table, tuple(rows[0]), conn.dialect)
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(
                [row[name] if convert is None else convert(row[name]) for name, convert in plan]
            )
