"""Atomic replacement of the catalogue by a dump: readers see the old one until the commit."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, insert

from recommender.catalog import search
from recommender.catalog.dump import (
    VOCABULARIES,
    ProjectRecord,
    ServiceRecord,
    UserRecord,
    collect_ids,
    iter_records,
)
from recommender.progress import Progress, counted
from recommender.store import state
from recommender.store.schema import Base, catalog_tables

BATCH = 5_000
Advance = Callable[[int], None]

T = TypeVar("T")

SERVICE_LINKS = {
    "categories": ("service_categories", "category_id"),
    "providers": ("service_providers", "provider_id"),
    "scientific_domains": ("service_scientific_domains", "scientific_domain_id"),
    "platforms": ("service_platforms", "platform_id"),
    "target_users": ("service_target_users", "target_user_id"),
    "access_modes": ("service_access_modes", "access_mode_id"),
    "access_types": ("service_access_types", "access_type_id"),
    "trls": ("service_trls", "trl_id"),
    "life_cycle_statuses": ("service_life_cycle_statuses", "life_cycle_status_id"),
    "research_steps": ("service_research_steps", "research_step_id"),
    "related_services": ("service_related_services", "related_service_id"),
    "required_services": ("service_required_services", "required_service_id"),
}
USER_LINKS = {
    "scientific_domains": ("user_scientific_domains", "scientific_domain_id"),
    "categories": ("user_categories", "category_id"),
}


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _batches(items: Iterable[T], size: int = BATCH) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert(conn: Connection, table: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(_table(table)), rows)


def _service_row(record: ServiceRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "description": record.description,
        "tagline": record.tagline,
        "countries": list(record.countries),
        "order_type": record.order_type,
        "rating": record.rating,
        "status": record.status,
        "pid": record.pid,
        "horizontal": record.horizontal,
        "resource_organisation_id": record.resource_organisation,
    }


def _links(owner: str, owner_id: int, column: str, targets: list[int]) -> list[dict[str, Any]]:
    # Duplicates in a dump's id list carry no meaning; the first mention wins.
    return [{owner: owner_id, column: target} for target in dict.fromkeys(targets)]


def replace_catalog(
    conn: Connection, doc: Mapping[str, Any], *, dump_id: int = 0, progress: Progress | None = None
) -> dict[str, int]:
    """Replace the whole catalogue with `doc` inside the caller's transaction.

    Raises `InvalidDumpError` before or during the writes; the caller's rollback then leaves
    the previous catalogue untouched. Activity tables are never written here.
    Returns the number of records loaded per entity.
    """
    ids = collect_ids(doc)
    total = sum(len(doc.get(name) or []) for name in ids)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            counted(progress, done, total, f"{done:,} of {total:,} records")

    if conn.dialect.name == "sqlite":
        # Checked at commit instead of per row: the order of deletes and inserts is then free.
        conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
    for table in reversed(catalog_tables()):
        conn.execute(table.delete())

    counts: dict[str, int] = {}
    for entity in VOCABULARIES:
        counts[entity] = 0
        for batch in _batches(iter_records(doc, entity, ids)):
            _insert(
                conn,
                entity,
                [
                    {"id": r.id, "name": r.name, "description": r.description, "pid": r.pid}
                    for r in batch
                ],
            )
            counts[entity] += len(batch)
            advance(len(batch))

    counts["services"] = _load_services(conn, doc, ids, advance)
    counts["users"] = _load_users(conn, doc, ids, advance)
    counts["projects"] = _load_projects(conn, doc, ids, advance)
    search.rebuild(conn)
    _refresh_statistics(conn)
    state.put(conn, state.CATALOG, str(dump_id))
    return counts


def _refresh_statistics(conn: Connection) -> None:
    """Give PostgreSQL's planner the new catalogue's statistics before it is served.

    Until autovacuum gets to them, a freshly replaced table looks empty to the planner, which
    then scans every service for a full-text query (a few hundred ms on 10,000 services)
    instead of reading the search index (a few ms). ANALYZE may run inside the loading
    transaction and counts the rows it inserted."""
    if conn.dialect.name != "postgresql":
        return
    for table in catalog_tables():
        conn.exec_driver_sql(f'ANALYZE "{table.name}"')


def _load_services(
    conn: Connection,
    doc: Mapping[str, Any],
    ids: Mapping[str, set[int]],
    advance: Callable[[int], None],
) -> int:
    # Links wait until every service row exists: related services point at later records.
    pending: dict[str, list[dict[str, Any]]] = {table: [] for table, _ in SERVICE_LINKS.values()}
    count = 0
    for batch in _batches(iter_records(doc, "services", ids)):
        _insert(conn, "services", [_service_row(r) for r in batch])
        for record in batch:
            for field, (table, column) in SERVICE_LINKS.items():
                pending[table].extend(
                    _links("service_id", record.id, column, getattr(record, field))
                )
        count += len(batch)
        advance(len(batch))
    for table, rows in pending.items():
        for chunk in _batches(rows):
            _insert(conn, table, chunk)
    return count


def _load_users(
    conn: Connection,
    doc: Mapping[str, Any],
    ids: Mapping[str, set[int]],
    advance: Callable[[int], None],
) -> int:
    count = 0
    for batch in _batches(iter_records(doc, "users", ids)):
        records: list[UserRecord] = batch
        _insert(conn, "users", [{"id": r.id, "aai_uid": r.aai_uid} for r in records])
        for field, (table, column) in USER_LINKS.items():
            _insert(
                conn,
                table,
                [
                    link
                    for r in records
                    for link in _links("user_id", r.id, column, getattr(r, field))
                ],
            )
        accessed = []
        for r in records:
            for position, service_id in enumerate(dict.fromkeys(r.accessed_services)):
                accessed.append({"user_id": r.id, "service_id": service_id, "position": position})
        _insert(conn, "user_accessed_services", accessed)
        count += len(records)
        advance(len(records))
    return count


def _load_projects(
    conn: Connection,
    doc: Mapping[str, Any],
    ids: Mapping[str, set[int]],
    advance: Callable[[int], None],
) -> int:
    count = 0
    for batch in _batches(iter_records(doc, "projects", ids)):
        records: list[ProjectRecord] = batch
        _insert(conn, "projects", [{"id": r.id, "user_id": r.user_id} for r in records])
        _insert(
            conn,
            "project_services",
            [
                link
                for r in records
                for link in _links("project_id", r.id, "service_id", r.services)
            ],
        )
        count += len(records)
        advance(len(records))
    return count
