"""Atomic replacement of the catalogue by a dump: readers see the old one until the commit."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from sqlalchemy import Connection

from recommender.catalog import search
from recommender.catalog.dump import (
    VOCABULARIES,
    ProjectRecord,
    ServiceRecord,
    UserRecord,
    collect_ids,
    iter_records,
)
from recommender.catalog.id_set import IdSet
from recommender.progress import Progress, counted
from recommender.store import state
from recommender.store.bulk import Row, TableWriter, table_writer
from recommender.store.schema import catalog_tables

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
SERVICE_TO_SERVICE = {
    field: SERVICE_LINKS[field] for field in ("related_services", "required_services")
}
USER_LINKS = {
    "scientific_domains": ("user_scientific_domains", "scientific_domain_id"),
    "categories": ("user_categories", "category_id"),
}


def _batches(items: Iterable[T], size: int = BATCH) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


SERVICE_COLUMNS = (
    "id",
    "name",
    "description",
    "tagline",
    "countries",
    "order_type",
    "rating",
    "status",
    "pid",
    "horizontal",
    "resource_organisation_id",
)


def _service_row(record: ServiceRecord) -> Row:
    return (
        record.id,
        record.name,
        record.description,
        record.tagline,
        list(record.countries),
        record.order_type,
        record.rating,
        record.status,
        record.pid,
        record.horizontal,
        record.resource_organisation,
    )


def _links(owner_id: int, targets: list[int]) -> list[Row]:
    # Duplicates in a dump's id list carry no meaning; the first mention wins.
    return [(owner_id, target) for target in dict.fromkeys(targets)]


def replace_catalog(
    conn: Connection, doc: Mapping[str, Any], *, dump_id: int = 0, progress: Progress | None = None
) -> dict[str, int]:
    """Replace the whole catalogue with `doc` inside the caller's transaction.

    `doc` is a parsed document or a `StreamedDump`, whose arrays are read one record at a
    time: twice each, once for the ids and once to write them.
    Raises `InvalidDumpError` before or during the writes; the caller's rollback then leaves
    the previous catalogue untouched. Activity tables are never written here.
    Returns the number of records loaded per entity.
    """
    ids = collect_ids(doc)
    total = sum(len(entity_ids) for entity_ids in ids.values())
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

    rows = table_writer(conn)
    counts: dict[str, int] = {}
    for entity in VOCABULARIES:
        counts[entity] = 0
        for batch in _batches(iter_records(doc, entity, ids)):
            rows.write(
                entity,
                ("id", "name", "description", "pid"),
                [(r.id, r.name, r.description, r.pid) for r in batch],
            )
            counts[entity] += len(batch)
            advance(len(batch))

    counts["services"] = _load_services(rows, doc, ids, advance)
    counts["users"] = _load_users(rows, doc, ids, advance)
    counts["projects"] = _load_projects(rows, doc, ids, advance)
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
    rows: TableWriter, doc: Mapping[str, Any], ids: Mapping[str, IdSet], advance: Advance
) -> int:
    # Links between services wait until every service row exists (related services point at
    # later records), kept meanwhile as pairs of int64 (16 bytes a link).
    waiting = {table: (array("q"), array("q")) for table, _ in SERVICE_TO_SERVICE.values()}
    count = 0
    for batch in _batches(iter_records(doc, "services", ids)):
        records: list[ServiceRecord] = batch
        rows.write("services", SERVICE_COLUMNS, [_service_row(r) for r in records])
        for field, (table, column) in SERVICE_LINKS.items():
            links = [link for r in records for link in _links(r.id, getattr(r, field))]
            if field in SERVICE_TO_SERVICE:
                owners, targets = waiting[table]
                owners.extend(owner for owner, _ in links)
                targets.extend(target for _, target in links)
            else:
                rows.write(table, ("service_id", column), links)
        count += len(records)
        advance(len(records))
    for table, column in SERVICE_TO_SERVICE.values():
        owners, targets = waiting.pop(table)
        for begin in range(0, len(owners), BATCH):
            chunk = zip(owners[begin : begin + BATCH], targets[begin : begin + BATCH], strict=True)
            rows.write(table, ("service_id", column), list(chunk))
    return count


def _load_users(
    rows: TableWriter, doc: Mapping[str, Any], ids: Mapping[str, IdSet], advance: Advance
) -> int:
    count = 0
    for batch in _batches(iter_records(doc, "users", ids)):
        records: list[UserRecord] = batch
        rows.write("users", ("id", "aai_uid"), [(r.id, r.aai_uid) for r in records])
        for field, (table, column) in USER_LINKS.items():
            rows.write(
                table,
                ("user_id", column),
                [link for r in records for link in _links(r.id, getattr(r, field))],
            )
        rows.write(
            "user_accessed_services",
            ("user_id", "service_id", "position"),
            [
                (r.id, service_id, position)
                for r in records
                for position, service_id in enumerate(dict.fromkeys(r.accessed_services))
            ],
        )
        count += len(records)
        advance(len(records))
    return count


def _load_projects(
    rows: TableWriter, doc: Mapping[str, Any], ids: Mapping[str, IdSet], advance: Advance
) -> int:
    count = 0
    for batch in _batches(iter_records(doc, "projects", ids)):
        records: list[ProjectRecord] = batch
        rows.write("projects", ("id", "user_id"), [(r.id, r.user_id) for r in records])
        rows.write(
            "project_services",
            ("project_id", "service_id"),
            [link for r in records for link in _links(r.id, r.services)],
        )
        count += len(records)
        advance(len(records))
    return count
