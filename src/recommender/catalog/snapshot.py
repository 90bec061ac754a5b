"""An in-memory, read-only view of the catalogue that the serving path filters without SQL."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, select

from recommender.arrays import IntArray
from recommender.catalog.aai_index import AaiIndex
from recommender.catalog.text_index import Matches, TextIndex
from recommender.catalog.user_cache import UserCache
from recommender.catalog.users import UserProfile, UserSource
from recommender.store import state
from recommender.store.arrays import CHUNK_ROWS, fetch_array
from recommender.store.schema import Base, Service, User

RECOMMENDABLE_STATUSES = frozenset({"published", "unverified"})
WORLDWIDE = frozenset({"WW", "EO"})  # the Marketplace's "world" and "Europe" markers

# search_data filter -> link table and its value column
FACETS: dict[str, tuple[str, str]] = {
    "categories": ("service_categories", "category_id"),
    "providers": ("service_providers", "provider_id"),
    "scientific_domains": ("service_scientific_domains", "scientific_domain_id"),
    "related_platforms": ("service_platforms", "platform_id"),
    "target_users": ("service_target_users", "target_user_id"),
}
NAMED = ("categories", "scientific_domains", "providers", "platforms", "target_users")


def _empty_positions() -> dict[str, dict[int, IntArray]]:
    return {}


@dataclass(frozen=True, eq=False)
class UserDirectory:
    """Every user of the dump in compressed rows; a profile is materialised only on lookup."""

    ids: IntArray
    accessed: tuple[IntArray, IntArray]  # (indptr, service ids)
    domains: tuple[IntArray, IntArray]
    categories: tuple[IntArray, IntArray]
    by_aai_uid: Mapping[str, int]

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def count(self) -> int:
        return len(self)

    def user_of_aai(self, aai_uid: str) -> int | None:
        return self.by_aai_uid.get(aai_uid)

    def reads_store(self, user_id: int | None, aai_uid: str | None) -> bool:
        return False

    def aai_map(self) -> Mapping[str, int]:
        return self.by_aai_uid

    def get(self, user_id: int) -> UserProfile | None:
        pos = int(np.searchsorted(self.ids, user_id))
        if pos >= self.ids.shape[0] or self.ids[pos] != user_id:
            return None

        def row(csr: tuple[IntArray, IntArray]) -> IntArray:
            indptr, values = csr
            return values[indptr[pos] : indptr[pos + 1]]

        return UserProfile(
            id=user_id,
            accessed=row(self.accessed),
            scientific_domains=tuple(int(v) for v in row(self.domains)),
            categories=tuple(int(v) for v in row(self.categories)),
        )


@dataclass(frozen=True, eq=False)
class CatalogSnapshot:
    version: int
    dump_id: int | None
    service_ids: IntArray  # sorted
    recommendable: NDArray[np.bool_]
    order_types: NDArray[np.object_]
    ratings: NDArray[np.float64]
    # filter -> value id -> positions (into service_ids) of services carrying it
    facets: Mapping[str, Mapping[int, IntArray]] = field(default_factory=_empty_positions)
    countries: Mapping[str, IntArray] = field(default_factory=dict)
    worldwide: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    names: Mapping[str, Mapping[int, str]] = field(default_factory=dict)
    users: UserSource | None = None
    # The full-text index where it matches the store's search (SQLite's word prefixes);
    # None where the store must be asked (PostgreSQL stems English words).
    text: TextIndex | None = None

    @property
    def n_services(self) -> int:
        return int(self.service_ids.shape[0])

    @property
    def loaded(self) -> bool:
        return self.dump_id is not None

    def positions(self, service_ids: Iterable[int]) -> IntArray:
        """Positions of the given service ids that exist in this catalogue."""
        wanted = (
            service_ids.astype(np.int64, copy=False)
            if isinstance(service_ids, np.ndarray)
            else np.fromiter(service_ids, dtype=np.int64)
        )
        if wanted.shape[0] == 0 or self.n_services == 0:
            return np.empty(0, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.service_ids, wanted), self.n_services - 1)
        return np.asarray(pos[self.service_ids[pos] == wanted], dtype=np.int64)

    def matching(self, service_ids: Iterable[int]) -> Matches:
        """A search's answer as matches of this catalogue: the services it holds of these."""
        return Matches.at(np.unique(self.positions(service_ids)), self.service_ids)

    # Names, for explanations (the engines' `Names` protocol).
    def service(self, service_id: int) -> str | None:
        return self.names.get("services", {}).get(service_id)

    def scientific_domain(self, domain_id: int) -> str | None:
        return self.names.get("scientific_domains", {}).get(domain_id)

    def category(self, category_id: int) -> str | None:
        return self.names.get("categories", {}).get(category_id)


def _csr(pairs: IntArray, owners: IntArray) -> tuple[IntArray, IntArray]:
    """(owner, value) rows as indptr + values aligned to `owners`, keeping the row order."""
    rows = np.searchsorted(owners, pairs[:, 0])
    counts = np.bincount(rows, minlength=owners.shape[0])[: owners.shape[0]]
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    order = np.argsort(rows, kind="stable")
    return indptr, np.asarray(pairs[order, 1], dtype=np.int64)


def _group(positions: IntArray, values: IntArray) -> dict[int, IntArray]:
    """value -> the positions carrying it."""
    order = np.argsort(values, kind="stable")
    values, positions = values[order], positions[order]
    keys, starts = np.unique(values, return_index=True)
    bounds = [*starts.tolist(), values.shape[0]]
    return {int(k): positions[bounds[i] : bounds[i + 1]] for i, k in enumerate(keys)}


def load_snapshot(conn: Connection, *, user_cache: UserCache | None = None) -> CatalogSnapshot:
    """Read the whole catalogue; call inside one transaction so it is a consistent picture.

    Every user is read too, unless there are more than `user_cache` holds: they are then read
    one at a time on first use.
    """
    catalog_state = state.read(conn, state.CATALOG)
    rows = conn.execute(
        select(
            Service.id,
            Service.name,
            Service.status,
            Service.order_type,
            Service.rating,
            Service.countries,
        ).order_by(Service.id)
    ).all()
    service_ids = np.asarray([r[0] for r in rows], dtype=np.int64)
    recommendable = np.asarray([r[2] in RECOMMENDABLE_STATUSES for r in rows], dtype=bool)
    order_types = np.asarray([r[3] for r in rows], dtype=object)
    ratings = np.asarray([np.nan if r[4] is None else r[4] for r in rows], dtype=np.float64)

    country_members: dict[str, list[int]] = defaultdict(list)
    worldwide: list[int] = []
    for pos, r in enumerate(rows):
        for country in r[5] or []:
            code = str(country).upper()
            country_members[code].append(pos)
            if code in WORLDWIDE:
                worldwide.append(pos)

    facets: dict[str, dict[int, IntArray]] = {}
    for name, (table_name, column) in FACETS.items():
        table = Base.metadata.tables[table_name]
        pairs = fetch_array(conn, select(table.c.service_id, table.c[column]), 2)
        facets[name] = _group(np.searchsorted(service_ids, pairs[:, 0]), pairs[:, 1])

    names: dict[str, dict[int, str]] = {"services": {int(r[0]): r[1] for r in rows}}
    for entity in NAMED:
        table = Base.metadata.tables[entity]
        names[entity] = {int(i): n for i, n in conn.execute(select(table.c.id, table.c.name))}

    return CatalogSnapshot(
        version=catalog_state.version if catalog_state else 0,
        dump_id=int(catalog_state.value) if catalog_state else None,
        service_ids=service_ids,
        recommendable=recommendable,
        order_types=order_types,
        ratings=ratings,
        facets=facets,
        countries={c: np.asarray(p, dtype=np.int64) for c, p in country_members.items()},
        worldwide=np.asarray(worldwide, dtype=np.int64),
        names=names,
        users=_users(conn, user_cache),
        text=_text_index(conn) if conn.dialect.name == "sqlite" else None,
    )


def _text_index(conn: Connection) -> TextIndex:
    rows = conn.execute(
        select(Service.name, Service.tagline, Service.description).order_by(Service.id)
    )
    return TextIndex.build([" ".join(part or "" for part in row) for row in rows])


def _users(conn: Connection, user_cache: UserCache | None) -> UserSource:
    cached = user_cache.open(conn) if user_cache is not None else None
    return cached if cached is not None else _load_users(conn)


def _load_users(conn: Connection) -> UserDirectory:
    ids = fetch_array(conn, select(User.id).order_by(User.id), 1).ravel()
    identities = conn.execute(
        select(User.aai_uid, User.id).where(User.aai_uid.is_not(None)),
        execution_options={"stream_results": True, "yield_per": CHUNK_ROWS},
    )
    by_aai_uid = AaiIndex((str(aai), int(uid)) for aai, uid in identities)
    tables = Base.metadata.tables
    accessed = tables["user_accessed_services"]
    domains = tables["user_scientific_domains"]
    categories = tables["user_categories"]
    return UserDirectory(
        ids=ids,
        accessed=_csr(
            fetch_array(
                conn,
                select(accessed.c.user_id, accessed.c.service_id).order_by(
                    accessed.c.user_id, accessed.c.position
                ),
                2,
            ),
            ids,
        ),
        domains=_csr(
            fetch_array(conn, select(domains.c.user_id, domains.c.scientific_domain_id), 2), ids
        ),
        categories=_csr(
            fetch_array(conn, select(categories.c.user_id, categories.c.category_id), 2), ids
        ),
        by_aai_uid=by_aai_uid,
    )
