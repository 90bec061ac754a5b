"""Connections to the store: one SQLAlchemy engine and session factory per database URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _json(value: Any) -> str:
    # The impression log writes six JSON columns per answer: the standard library's encoder
    # was half of what a row cost to store. Keys that are not strings become strings, as json
    # would make them.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers keep their snapshot while a dump is being written, which is what
    # makes a catalogue replacement invisible until it commits.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # pysqlite's own transaction handling is disabled (see below); BEGIN is issued here so
    # that SAVEPOINT and a consistent read snapshot work as SQLAlchemy documents. Writers ask
    # for IMMEDIATE: a deferred transaction that reads first cannot wait for the write lock.
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def create_db_engine(
    url: str, *, pool_size: int = 10, statement_timeout_s: float | None = None
) -> Engine:
    """An engine configured for the dialect: WAL and foreign keys on SQLite, a pool on PG."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=pool_size,
            max_overflow=pool_size * 2,
            json_serializer=_json,
        )
        event.listen(engine, "connect", _sqlite_on_connect)

        @event.listens_for(engine, "connect")
        def _disable_pysqlite_transactions(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # The driver prepares a statement run five times, and PostgreSQL may then keep one plan
    # for every value. Made before a table had statistics (a new database, or autovacuum
    # off), the plan for the actions leading to a group of page visits scanned the whole
    # table on every batch of actions. Planning each run anew for its values costs less than
    # those scans did: the database's CPU per request in `benchmarks.route_cost` stopped
    # growing as the table grew (docs/benchmarks.md).
    options = ["-c plan_cache_mode=force_custom_plan"]
    if statement_timeout_s is not None:
        # A request must fail fast rather than hold a connection while the database stalls.
        options.append(f"-c statement_timeout={int(statement_timeout_s * 1000)}")
    connect_args: dict[str, Any] = {"connect_timeout": 10, "options": " ".join(options)}
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args=connect_args,
        json_serializer=_json,
    )


class Database:
    """An engine and its session factory; created at start-up, never at import time."""

    def __init__(
        self, url: str, *, pool_size: int = 10, statement_timeout_s: float | None = None
    ) -> None:
        self.url = url
        self.engine = create_db_engine(
            url, pool_size=pool_size, statement_timeout_s=statement_timeout_s
        )
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on any error."""
        with self.sessions() as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in a write transaction (on SQLite it takes the write lock at BEGIN)."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A connection in a read transaction that sees one consistent state of the store
        across all its reads (REPEATABLE READ on PostgreSQL; SQLite's WAL read transactions
        already keep their snapshot)."""
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        self.engine.dispose()
