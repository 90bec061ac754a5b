"""Uploaded dumps: stored compressed in the database, then loaded by id in one transaction."""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select, update

from recommender.catalog.dump import InvalidDumpError, Problem, validate_dump
from recommender.catalog.loader import replace_catalog
from recommender.progress import Progress
from recommender.store.database import Database
from recommender.store.schema import CatalogDump, utcnow

# Older uploads keep their metadata (the training fingerprint) but drop their content.
KEEP_CONTENT = 3


def parse(raw: bytes) -> Any:
    """The JSON document of a dump, or `InvalidDumpError` saying why it is not JSON."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise InvalidDumpError(
            [Problem(entity="dump", message=f"not valid UTF-8 JSON: {error}")]
        ) from None


def store_upload(conn: Connection, raw: bytes) -> int:
    """Keep the bytes of a dump so a job (here or on a worker) can load it; returns its id."""
    dump_id = conn.execute(
        insert(CatalogDump)
        .values(
            received_at=utcnow(),
            status="received",
            byte_size=len(raw),
            sha256=hashlib.sha256(raw).hexdigest(),
            content=zlib.compress(raw, 1),
            counts={},
        )
        .returning(CatalogDump.id)
    ).scalar_one()
    stale = select(CatalogDump.id).order_by(CatalogDump.id.desc()).offset(KEEP_CONTENT)
    conn.execute(
        update(CatalogDump).where(CatalogDump.id.in_(stale.scalar_subquery())).values(content=None)
    )
    return int(dump_id)


@dataclass(frozen=True)
class LoadedDump:
    """The dump the catalogue was last replaced with."""

    id: int
    received_at: datetime
    loaded_at: datetime
    byte_size: int
    counts: dict[str, int]


def last_loaded(conn: Connection) -> LoadedDump | None:
    row = conn.execute(
        select(
            CatalogDump.id,
            CatalogDump.received_at,
            CatalogDump.loaded_at,
            CatalogDump.byte_size,
            CatalogDump.counts,
        )
        .where(CatalogDump.status == "loaded")
        .order_by(CatalogDump.loaded_at.desc())
        .limit(1)
    ).first()
    return None if row is None else LoadedDump(**row._mapping)


def describe(error: Exception) -> str:
    """Every problem of an invalid dump, or the error's own message."""
    if isinstance(error, InvalidDumpError):
        return "invalid dump: " + "; ".join(str(p) for p in error.problems)
    return str(error)


def _mark(db: Database, dump_id: int, **values: Any) -> None:
    with db.write() as conn:
        conn.execute(update(CatalogDump).where(CatalogDump.id == dump_id).values(**values))


def load_upload(db: Database, dump_id: int, progress: Progress | None = None) -> dict[str, int]:
    """Replace the catalogue with a stored dump; on failure nothing changes but its status."""
    with db.engine.connect() as conn:
        content = conn.execute(
            select(CatalogDump.content).where(CatalogDump.id == dump_id)
        ).scalar_one_or_none()
    if content is None:
        raise LookupError(f"dump {dump_id} does not exist or its content was pruned")
    _mark(db, dump_id, status="loading")
    try:
        raw = zlib.decompress(content)
        del content
        doc = parse(raw)
        del raw
        with db.write() as conn:
            counts = replace_catalog(conn, doc, dump_id=dump_id, progress=progress)
    except Exception as error:
        _mark(db, dump_id, status="failed", error=describe(error)[:10_000])
        raise
    _mark(db, dump_id, status="loaded", loaded_at=utcnow(), counts=counts, error=None)
    return counts


def accept(db: Database, raw: bytes) -> int:
    """Check an upload completely, then store it; `InvalidDumpError` says what is wrong."""
    validate_dump(parse(raw))
    with db.write() as conn:
        return store_upload(conn, raw)
