"""Uploaded dumps: checked, stored compressed in the database, then loaded by id in one
transaction; the document is read from its bytes a record at a time, never parsed whole."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select, update

from recommender.catalog.dump import InvalidDumpError, validate_dump
from recommender.catalog.dump_stream import (
    CompressedBytes,
    FileBytes,
    MemoryBytes,
    read_dump,
)
from recommender.catalog.loader import replace_catalog
from recommender.progress import Progress
from recommender.store.database import Database
from recommender.store.schema import CatalogDump, utcnow

# Older uploads keep their metadata (the training fingerprint) but drop their content.
KEEP_CONTENT = 3


@dataclass(frozen=True)
class CompressedUpload:
    """The bytes of a dump as they are stored: compressed, with the size and hash of the
    original."""

    content: bytes | bytearray
    byte_size: int
    sha256: str

    @classmethod
    def of(cls, raw: bytes) -> CompressedUpload:
        return cls(zlib.compress(raw, 1), len(raw), hashlib.sha256(raw).hexdigest())

    @classmethod
    def of_file(cls, path: Path) -> CompressedUpload:
        """Compressed a chunk at a time: what is held is the compressed bytes (about a quarter
        of a generated dump), never the file's."""
        compressor = zlib.compressobj(1)
        digest = hashlib.sha256()
        # Grown in place: joining parts would hold the compressed bytes twice.
        content = bytearray()
        size = 0
        for chunk in FileBytes(path).chunks(0):
            digest.update(chunk)
            size += len(chunk)
            content += compressor.compress(chunk)
        content += compressor.flush()
        return cls(content, size, digest.hexdigest())


def store_upload(conn: Connection, upload: bytes | CompressedUpload) -> int:
    """Keep the bytes of a dump so a job (here or on a worker) can load it; returns its id."""
    stored = upload if isinstance(upload, CompressedUpload) else CompressedUpload.of(upload)
    dump_id = conn.execute(
        insert(CatalogDump)
        .values(
            received_at=utcnow(),
            status="received",
            byte_size=stored.byte_size,
            sha256=stored.sha256,
            content=stored.content,
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


def load_upload(
    db: Database,
    dump_id: int,
    progress: Progress | None = None,
    then: Callable[[Connection], object] | None = None,
) -> dict[str, int]:
    """Replace the catalogue with a stored dump; on failure nothing changes but its status.

    The compressed content is held; the document is inflated and read a record at a time.
    `then` runs in the loading transaction after the catalogue is replaced, so that what it
    writes is seen with the new catalogue and never without it."""
    with db.engine.connect() as conn:
        content = conn.execute(
            select(CatalogDump.content).where(CatalogDump.id == dump_id)
        ).scalar_one_or_none()
    if content is None:
        raise LookupError(f"dump {dump_id} does not exist or its content was pruned")
    _mark(db, dump_id, status="loading")
    try:
        doc = read_dump(CompressedBytes(content))
        with db.write() as conn:
            counts = replace_catalog(conn, doc, dump_id=dump_id, progress=progress)
            if then is not None:
                then(conn)
    except Exception as error:
        _mark(db, dump_id, status="failed", error=describe(error)[:10_000])
        raise
    _mark(db, dump_id, status="loaded", loaded_at=utcnow(), counts=counts, error=None)
    return counts


def accept(db: Database, raw: bytes) -> int:
    """Check an upload completely, then store it; `InvalidDumpError` says what is wrong."""
    validate_dump(read_dump(MemoryBytes(raw)))
    with db.write() as conn:
        return store_upload(conn, raw)


def accept_file(db: Database, path: Path) -> int:
    """`accept` for a dump file, which is read a chunk at a time and never held whole.

    A regular file is read again for each pass; a pipe (`/dev/stdin`) can be read once, so
    it is compressed first and checked from the compressed bytes."""
    if path.is_file():
        validate_dump(read_dump(FileBytes(path)))
        upload = CompressedUpload.of_file(path)
    else:
        upload = CompressedUpload.of_file(path)
        validate_dump(read_dump(CompressedBytes(upload.content)))
    with db.write() as conn:
        return store_upload(conn, upload)
