"""Rows appended to a table in bulk inside the caller's transaction: COPY on PostgreSQL; on
SQLite one executemany a batch (`table_writer`, for loads: multi-row INSERTs loaded a dump of
100,000 users in 34-37 s against 29-33, `benchmarks/dump_load.py`) or multi-row INSERTs
(`insert_rows`, for the store writer's thread).

Impressions and user actions go through `insert_rows`, one batch per commit of the store
writer, on the thread that shares the interpreter with the event loop: each value converted by
its column's type and handed to the driver. A 24-column impression costs that thread about
half (PostgreSQL, by COPY) and about as much (SQLite) as SQLAlchemy's `executemany` of an
INSERT, in a few statements instead of one a row (see `_insert_many`;
`benchmarks/impression_log.py`).
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import orjson
import psycopg
from sqlalchemy import JSON, Connection, Dialect, Table

from recommender.store.schema import Base

Row = tuple[Any, ...]


class TableWriter(ABC):
    """Appends rows to a table inside the caller's transaction, through the driver: the rows
    are already checked, and SQLAlchemy's per-row work cost more than the database's."""

    @abstractmethod
    def write(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None: ...


def _with_json_text(table: str, columns: Sequence[str], rows: Sequence[Row]) -> Sequence[Row]:
    """JSON columns as the text the engine's JSON serializer would send."""
    json_at = {
        i for i, c in enumerate(columns) if isinstance(Base.metadata.tables[table].c[c].type, JSON)
    }
    if not json_at:
        return rows
    return [
        tuple(orjson.dumps(v).decode() if i in json_at else v for i, v in enumerate(row))
        for row in rows
    ]


class _InsertWriter(TableWriter):
    """Batched INSERTs (one executemany a batch), for SQLite."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def write(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        if not rows:
            return
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        self._conn.exec_driver_sql(
            f'INSERT INTO "{table}" ({names}) VALUES ({marks})',
            list(_with_json_text(table, columns, rows)),
        )


class _CopyWriter(TableWriter):
    """PostgreSQL's COPY FROM STDIN, through the driver connection of the caller's
    transaction: several times faster than INSERTs, and rolled back with everything else."""

    def __init__(self, conn: Connection) -> None:
        driver = conn.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        self._driver: psycopg.Connection[Any] = driver

    def write(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        if not rows:
            return
        names = ", ".join(f'"{c}"' for c in columns)
        with (
            self._driver.cursor() as cursor,
            cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy,
        ):
            for row in _with_json_text(table, columns, rows):
                copy.write_row(row)


def table_writer(conn: Connection) -> TableWriter:
    return _CopyWriter(conn) if conn.dialect.name == "postgresql" else _InsertWriter(conn)


Convert = Callable[[Any], Any] | None


@lru_cache(maxsize=64)
def _plan(
    table: Table, columns: tuple[str, ...], dialect: Dialect
) -> tuple[str, tuple[Convert, ...]]:
    """The statement that appends `columns` of `table` (on SQLite, an INSERT without its
    VALUES), and each column's bind conversion (its type's, on this dialect: JSON encoded as
    the engine encodes it, times in UTC)."""
    converts = tuple(
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
    )
    quoted = ", ".join(dialect.identifier_preparer.quote(name) for name in columns)
    table_name = dialect.identifier_preparer.format_table(table)
    if dialect.name == "postgresql":
        return f"COPY {table_name} ({quoted}) FROM STDIN", converts
    return f"INSERT INTO {table_name} ({quoted})", converts


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` (each with the same keys, all of them columns of `table`) in the
    connection's transaction, stored as `conn.execute(insert(table), rows)` stores them."""
    if not rows:
        return
    names = tuple(rows[0])
    statement, converts = _plan(table, names, conn.dialect)
    plan = tuple(zip(names, converts, strict=True))
    converted = [
        tuple(row[name] if convert is None else convert(row[name]) for name, convert in plan)
        for row in rows
    ]
    if conn.dialect.name != "postgresql":
        _insert_many(conn, statement, len(names), converted)
        return
    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for values in converted:
            copy.write_row(values)


# A few hundred rows a statement already make the statement's own cost negligible.
MAX_ROWS_A_STATEMENT = 256


def _insert_many(conn: Connection, insert: str, width: int, rows: Sequence[Row]) -> None:
    """`rows` of `width` values each by `insert` (an INSERT up to its VALUES), several rows a
    statement.

    The driver lets go of the interpreter for each statement it steps, and a thread that
    wants it back waits for the event loop's next switch when the loop is busy: one step per
    row, as `executemany` takes, made a batch of 50 impressions take 352 ms against 18 ms
    with another thread busy (`benchmarks/impression_log.py`)."""
    driver = conn.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    parameters = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    per_statement = max(1, min(MAX_ROWS_A_STATEMENT, parameters // max(width, 1)))
    marks = f"({', '.join('?' * width)})"
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        values = ", ".join([marks] * len(chunk))
        conn.exec_driver_sql(f"{insert} VALUES {values}", tuple(v for row in chunk for v in row))
