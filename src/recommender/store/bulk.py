"""Rows appended to a table in bulk inside the caller's transaction: COPY on PostgreSQL,
one executemany a batch on SQLite."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import orjson
import psycopg
from sqlalchemy import JSON, Connection

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
