from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from recommender.catalog import uploads
from recommender.catalog.dump import InvalidDumpError
from recommender.store.database import Database
from recommender.store.schema import CatalogDump
from tests.catalog.test_loader import catalogue
from tests.factories import dump, service, two_communities, user


def stored(db: Database, dump_id: int) -> CatalogDump:
    with db.session() as session:
        row = session.get(CatalogDump, dump_id)
        assert row is not None
        session.expunge(row)
        return row


def test_a_dump_file_loads_as_the_same_dump_posted(db: Database, tmp_path: Path) -> None:
    doc = two_communities()
    doc["services"][0]["name"] = 'Żółw "[quoted]" \\ service'
    raw = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
    path = tmp_path / "dump.json"
    path.write_bytes(raw)

    from_file = uploads.accept_file(db, path)
    uploads.load_upload(db, from_file)
    loaded_from_file = catalogue(db)
    posted = uploads.accept(db, raw)
    uploads.load_upload(db, posted)

    assert catalogue(db) == loaded_from_file
    assert len(loaded_from_file["services"]) == 12 and len(loaded_from_file["users"]) == 30
    file_row, posted_row = stored(db, from_file), stored(db, posted)
    assert file_row.byte_size == posted_row.byte_size == len(raw)
    assert file_row.sha256 == posted_row.sha256 == hashlib.sha256(raw).hexdigest()
    assert file_row.content is not None and zlib.decompress(file_row.content) == raw


def test_an_invalid_dump_file_is_not_stored_and_changes_nothing(
    db: Database, tmp_path: Path
) -> None:
    uploads.load_upload(db, uploads.accept(db, orjson.dumps(dump([service(1)], [user(1)]))))
    before = catalogue(db)
    path = tmp_path / "dump.json"
    broken = dump([service(2)], [user(2, accessed_services=[2, 3]), user(3, aai_uid="x")])
    broken["users"].append(user(4, aai_uid="x"))
    path.write_bytes(orjson.dumps(broken))
    with pytest.raises(InvalidDumpError) as caught:
        uploads.accept_file(db, path)
    assert [str(p) for p in caught.value.problems] == [
        "users[id=2].accessed_services: services id 3 is not in the dump",
        "users[id=4].aai_uid: aai_uid 'x' is used by another record",
    ]
    path.write_bytes(orjson.dumps(dump([service(2)]))[:-1])
    with pytest.raises(InvalidDumpError, match="not valid UTF-8 JSON"):
        uploads.accept_file(db, path)
    with db.engine.connect() as conn:
        assert len(conn.execute(select(CatalogDump.id)).all()) == 1
    assert catalogue(db) == before


def test_progress_counts_records_up_to_all_of_them(db: Database) -> None:
    doc = two_communities()
    dump_id = uploads.accept(db, orjson.dumps(doc))
    reports: list[tuple[float, str]] = []
    uploads.load_upload(db, dump_id, progress=lambda share, text: reports.append((share, text)))
    total = sum(len(records or []) for records in doc.values())
    assert reports[-1] == (1.0, f"{total:,} of {total:,} records")
    shares = [share for share, _ in reports]
    assert shares == sorted(shares) and 0 < shares[0] < 1
