"""The long-lived parts of a running service, built from settings and closed together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from concurrent.futures import Future
from functools import partial
from typing import Any, TypeVar

from recommender.activity import actions, impressions
from recommender.catalog import search
from recommender.catalog.text_index import Matches
from recommender.config import Settings
from recommender.databus import status as databus_status
from recommender.databus.publisher import Publisher
from recommender.serving.state import ServingStateHolder
from recommender.sessions import SessionStore, open_sessions
from recommender.store import migrate
from recommender.store.database import Database
from recommender.store.schema import utcnow
from recommender.store.writer import Writer
from recommender.tasks import popularity, records, schedule
from recommender.tasks.background import Background
from recommender.tasks.executor import Executor, make_executor
from recommender.tasks.retention import Pruner

log = logging.getLogger(__name__)
# A write's future: a thread's, or an event loop's.
StoredT = TypeVar("StoredT", Future[int], asyncio.Future[int])


class Runtime:
    """Database, serving state and executor of one process; `start()` migrates and loads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(
            settings.database_url, pool_size=20, statement_timeout_s=settings.db_timeout_s
        )
        # Jobs (dump loads, training) run long statements on purpose: no request timeout.
        self.jobs_db = Database(settings.database_url, pool_size=4)
        self.sessions: SessionStore = open_sessions(settings)
        self.serving = ServingStateHolder(
            self.db,
            default_engine=settings.default_engine,
            metric=settings.gate_metric,
            popularity_refit_s=settings.popularity_refit_s,
            user_cache_size=settings.user_cache_size,
            # Actions other processes stored (the databus, imports) reach sessions here.
            on_actions=self.sessions.add,
        )
        self.executor: Executor = make_executor(
            self.jobs_db, settings, on_finished=self.serving.refresh
        )
        self.writer = Writer(self.db)
        self.searches = search.QueryCache()
        self.publisher = Publisher.from_settings(settings)
        pruner = Pruner.from_settings(settings)
        self.recount = Background(
            "popularity-recount",
            partial(popularity.recount_if_due, self.db, settings.popularity_refit_s),
        )
        self.prune = Background("retention", partial(pruner, self.db))

    def start(self, *, poll: bool = True) -> None:
        migrate.upgrade(self.db.engine)
        self.writer.start()
        with self.db.engine.connect() as conn:
            self.sessions.add_orders(actions.all_orders(conn))
        if self.publisher is not None:
            self.publisher.start()
        self.serving.refresh()
        if poll:
            self.serving.start(self.settings.refresh_interval_s, housekeeping=self.housekeeping)

    def housekeeping(self) -> None:
        """Fail jobs whose worker died, so none stays "running" forever; recount popularity
        when its stored counts are due (one process of all does) and delete the activity the
        retention windows let go (one process at a time), each on a thread of its own; without
        Celery beat, start the scheduled trainings that are due."""
        with self.db.write() as conn:
            reaped = records.reap(conn, self.settings.task_heartbeat_timeout_s)
        if reaped:
            log.warning("marked %d jobs failed: their worker stopped responding", reaped)
        self.recount.start()
        self.prune.start()
        if not self.settings.redis_url:
            schedule.tick(self.jobs_db, self.settings, self.executor.submit)

    def search(self, query: str) -> Collection[int] | None:
        """Services whose text matches a portal's full-text query; None when the query has
        no words. From the catalogue's own index when it has one, else the store's (its
        answers kept per catalogue version for the queries that come back)."""
        catalog = self.serving.current.catalog
        words = search.terms(query)
        if catalog.text is not None:
            mask = catalog.text.matching(words)
            return None if mask is None else Matches(mask, catalog.service_ids)
        if not words:
            return None
        cached = self.searches.get(catalog.version, words)
        if cached is not None:
            return cached
        with self.db.engine.connect() as conn:
            found = search.matching_services(conn, query)
        return self.searches.put(catalog.version, words, catalog.matching(found or ()))

    async def search_async(self, query: str) -> Collection[int] | None:
        """`search` for the event loop: a query the store must answer runs on a thread, so
        that other requests are served meanwhile."""
        catalog = self.serving.current.catalog
        if catalog.text is not None:
            return self.search(query)
        words = search.terms(query)
        cached = self.searches.get(catalog.version, words) if words else None
        if cached is not None:
            return cached
        return await asyncio.to_thread(self.search, query)

    def store_impression(self, impression: impressions.Impression) -> Future[int]:
        """Store an impression through the writer: the future holds its id once committed.

        How a served panel is written, whoever serves it (this, or `store_impression_async`
        on an event loop). Once committed, it is also offered to the databus publisher, if
        one is configured: a non-blocking hand-over, never a wait on the broker."""
        return self._announced(
            impression, self.writer.submit_item(impressions.write_many, impression)
        )

    def store_impression_async(self, impression: impressions.Impression) -> asyncio.Future[int]:
        """`store_impression` for a coroutine on the running event loop."""
        return self._announced(
            impression, self.writer.submit_item_async(impressions.write_many, impression)
        )

    def _announced(self, impression: impressions.Impression, stored: StoredT) -> StoredT:
        if self.publisher is not None:
            stored.add_done_callback(partial(self._announce, impression))
        return stored

    def _announce(
        self, impression: impressions.Impression, stored: Future[int] | asyncio.Future[int]
    ) -> None:
        if self.publisher is not None and not stored.cancelled() and stored.exception() is None:
            self.publisher.offer(impression, stored.result())

    def databus_health(self) -> dict[str, Any] | None:
        """The subscriber's last report (and this process's publisher); None without a databus."""
        if self.settings.databus_host is None:
            return None
        subscription = self.settings.databus_subscription
        try:
            with self.db.engine.connect() as conn:
                row = databus_status.read(conn, subscription)
        except Exception as error:
            return {"status": "down", "error": type(error).__name__}
        part = databus_status.health(row, subscription, utcnow())
        if self.publisher is not None:
            part["publisher"] = self.publisher.health()
        return part

    def close(self) -> None:
        if self.publisher is not None:
            self.publisher.close()
        self.serving.stop()
        self.sessions.close()
        self.executor.close()
        self.writer.stop()
        self.jobs_db.dispose()
        self.db.dispose()
