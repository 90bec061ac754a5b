"""What a serving process holds: the catalogue snapshot, the models and the running experiments,
swapped atomically whenever the store says something changed."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Connection, func, select

from recommender.activity import actions
from recommender.activity import counts as popularity_counts
from recommender.activity.actions import ServiceAction
from recommender.activity.usage import first_uses
from recommender.catalog.snapshot import CatalogSnapshot, load_snapshot
from recommender.catalog.user_cache import UserCache
from recommender.engines import UnknownEngineError, canonical_name
from recommender.engines.popularity import PopularityModel, PopularityParams, Use
from recommender.engines.random import RandomModel
from recommender.experiments import records as experiments
from recommender.experiments.records import ExperimentRecord
from recommender.registry.loading import LoadedModel, load_active, load_versions
from recommender.serving.models import AUTO
from recommender.serving.topk import Alignments
from recommender.store import state as stored_state
from recommender.store.database import Database
from recommender.store.schema import UserAction

log = logging.getLogger(__name__)

HOUSEKEEPING_EVERY = 5

# Told about every action on a service the store received since the last refresh.
ActionsListener = Callable[[Sequence[ServiceAction]], None]


def _nobody_listens(_actions: Sequence[ServiceAction]) -> None:
    return None


@dataclass(frozen=True)
class Marks:
    """Versions seen at the last refresh; a change in any triggers the matching rebuild."""

    catalog: int = -1
    models: int = -1
    default_engine: int = -1
    experiments: int = -1
    activity: int = -1
    popularity: int = -1


@dataclass(frozen=True, eq=False)
class ServingState:
    catalog: CatalogSnapshot
    builtin: Mapping[str, LoadedModel]
    registry: Mapping[str, LoadedModel]
    default_engine: str
    marks: Marks = field(default_factory=Marks)
    # When popularity was last counted from the whole store (it follows orders in between).
    built_at: float = field(default_factory=time.monotonic)
    experiments: tuple[ExperimentRecord, ...] = ()
    # Versions running experiments pin, by (engine, version).
    pinned: Mapping[tuple[str, int], LoadedModel] = field(default_factory=dict)

    @cached_property
    def models(self) -> dict[str, LoadedModel]:
        # Registry versions win over the in-process rebuilds of the same engine.
        return {**self.builtin, **self.registry}

    @cached_property
    def alignments(self) -> Alignments:
        """Where each model's items sit in this state's catalogue, computed once."""
        return Alignments(self.catalog)

    def experiment_on(self, panel_id: str) -> ExperimentRecord | None:
        for experiment in self.experiments:
            if panel_id in experiment.panels:
                return experiment
        return None


def _fit_builtin(conn: Connection, catalog: CatalogSnapshot, upto: int) -> dict[str, LoadedModel]:
    """Popularity from the counts stored for this catalogue, with the first uses among the
    actions up to `upto` that came after them. Every serving process does this at start, on
    each new catalogue or stored count and every `popularity_refit_s`; what it reads grows
    with the services and interests only. Without stored counts (a catalogue not loaded as
    a dump, or a store from before they were kept) the database counts now instead, which
    takes a minute at a million users."""
    smoothing = PopularityParams().smoothing
    found = popularity_counts.stored(conn)
    if found is None:
        return _builtin(popularity_counts.counted_popularity(conn, smoothing))
    counts, stamp = found
    builtin = _builtin(popularity_counts.model_of(conn, counts, smoothing))
    if upto <= stamp.through:
        return builtin
    later = first_uses(conn, actions.on_services(conn, stamp.through, upto))
    return dict(_followed(builtin, catalog, later))


def _builtin(popularity: PopularityModel) -> dict[str, LoadedModel]:
    return {
        "popularity": LoadedModel("popularity", popularity),
        "random": LoadedModel(
            "random", RandomModel(item_ids=popularity.item_ids.copy(), seed=None)
        ),
    }


def _followed(
    builtin: Mapping[str, LoadedModel], catalog: CatalogSnapshot, uses: Sequence[ServiceAction]
) -> Mapping[str, LoadedModel]:
    """The built-in models with popularity counting these first uses too."""
    popularity = builtin["popularity"].model
    if not uses or not isinstance(popularity, PopularityModel):
        return builtin
    users = catalog.users
    counted = []
    for use in uses:
        profile = users.get(use.user_id) if users is not None and use.user_id else None
        counted.append(
            Use(
                item=use.service_id,
                scientific_domains=profile.scientific_domains if profile else (),
                categories=profile.categories if profile else (),
            )
        )
    return {**builtin, "popularity": LoadedModel("popularity", popularity.with_uses(counted))}


def _activity_mark(conn: Connection) -> int:
    return int(conn.execute(select(func.max(UserAction.id))).scalar_one() or 0)


def _default_engine(stored: stored_state.Versioned | None, configured: str) -> str:
    name = stored.value if stored is not None else configured
    if name.strip().lower() == AUTO:
        return AUTO
    try:
        return canonical_name(name)
    except UnknownEngineError:
        log.error("default engine %r is unknown; using popularity", name)
        return "popularity"


class ServingStateHolder:
    """Holds the current `ServingState` and replaces it when the store says something changed.

    Readers take `current` once per request and use that object throughout, so a swap in the
    middle of a request never mixes two catalogues or two models.
    """

    def __init__(
        self,
        db: Database,
        *,
        default_engine: str = "popularity",
        metric: str = "NDCG@10",
        popularity_refit_s: float = 600.0,
        on_actions: ActionsListener = _nobody_listens,
        user_cache_size: int = 0,
    ) -> None:
        """`user_cache_size` > 0 keeps at most that many users' profiles, read from the store
        on first use; 0 holds every user in memory (no store read on a request)."""
        self._db = db
        self._user_cache = UserCache(db, user_cache_size) if user_cache_size > 0 else None
        self._configured_default = default_engine
        self._metric = metric
        self._popularity_refit_s = popularity_refit_s
        self._on_actions = on_actions
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._current: ServingState | None = None
        self.last_error: str | None = None

    @property
    def current(self) -> ServingState:
        if self._current is None:
            self.refresh()
        assert self._current is not None
        return self._current

    def served_versions(self) -> dict[str, int | None]:
        """The registry version of every engine this process serves now."""
        if self._current is None:
            return {}
        return {name: loaded.version for name, loaded in self._current.registry.items()}

    def refresh(self) -> bool:
        """Rebuild whatever changed in the store; returns whether a new state was installed."""
        with self._refresh_lock:
            old = self._current
            with self._db.snapshot() as conn:
                new, followed = self._rebuild(conn, old)
            if new is not old:
                self._current = new
            self.last_error = None
        if followed:
            self._on_actions(followed)
        return new is not old

    def _rebuild(
        self, conn: Connection, old: ServingState | None
    ) -> tuple[ServingState, list[ServiceAction]]:
        versions = stored_state.read_all(conn)

        def version(key: str) -> int:
            entry = versions.get(key)
            return entry.version if entry is not None else 0

        marks = Marks(
            catalog=version(stored_state.CATALOG),
            models=version(stored_state.MODELS),
            default_engine=version(stored_state.DEFAULT_ENGINE),
            experiments=version(stored_state.EXPERIMENTS),
            activity=_activity_mark(conn),
            popularity=version(stored_state.POPULARITY),
        )
        if old is not None and marks == old.marks:
            return old, []
        catalog = (
            old.catalog
            if old is not None and marks.catalog == old.marks.catalog
            else load_snapshot(conn, user_cache=self._user_cache)
        )
        followed: list[ServiceAction] = []
        refit = (
            old is None
            or catalog is not old.catalog
            or marks.popularity != old.marks.popularity
            or time.monotonic() - old.built_at >= self._popularity_refit_s
        )
        if refit or old is None:
            builtin: Mapping[str, LoadedModel] = _fit_builtin(conn, catalog, marks.activity)
            built_at = time.monotonic()
        else:
            builtin, built_at = old.builtin, old.built_at
        if old is not None and marks.activity > old.marks.activity:
            followed = actions.on_services(conn, old.marks.activity, marks.activity)
            if not refit:
                builtin = _followed(builtin, catalog, first_uses(conn, followed))
        running = (
            old.experiments
            if old is not None and marks.experiments == old.marks.experiments
            else tuple(experiments.running(conn))
        )
        if old is None or marks.models != old.marks.models or running is not old.experiments:
            registry = load_active(conn, old.registry if old else {}, metric=self._metric)
            pinned = load_versions(
                conn,
                experiments.arms_of(running),
                old.pinned if old else {},
                metric=self._metric,
            )
        else:
            registry, pinned = dict(old.registry), dict(old.pinned)
        new = ServingState(
            catalog=catalog,
            builtin=builtin,
            registry=registry,
            default_engine=_default_engine(
                versions.get(stored_state.DEFAULT_ENGINE), self._configured_default
            ),
            marks=marks,
            built_at=built_at,
            experiments=running,
            pinned=pinned,
        )
        return new, followed

    def start(self, interval_s: float, housekeeping: Callable[[], None] | None = None) -> None:
        """Poll the store in a daemon thread until `stop()`; `housekeeping` runs every
        `HOUSEKEEPING_EVERY` polls."""
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            ticks = 0
            while not self._stop.wait(interval_s):
                ticks += 1
                try:
                    self.refresh()
                except Exception as error:  # keep serving the last good state
                    self.last_error = str(error)
                    log.exception("refreshing the serving state failed")
                if housekeeping is not None and ticks % HOUSEKEEPING_EVERY == 0:
                    try:
                        housekeeping()
                    except Exception:
                        log.exception("housekeeping failed")

        self._thread = threading.Thread(target=loop, name="serving-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
