"""The long-lived parts of a running service, built from settings and closed together."""

from __future__ import annotations

import logging
from concurrent.futures import Future
from functools import partial

from recommender.activity import impressions
from recommender.config import Settings
from recommender.registry.loading import load_active
from recommender.serving.state import ServingStateHolder
from recommender.store import migrate
from recommender.store.database import Database
from recommender.store.writer import Writer
from recommender.tasks import records
from recommender.tasks.executor import Executor, make_executor

log = logging.getLogger(__name__)


class Runtime:
    """Database, serving state and executor of one process; `start()` migrates and loads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(
            settings.database_url, pool_size=20, statement_timeout_s=settings.db_timeout_s
        )
        # Jobs (dump loads, training) run long statements on purpose: no request timeout.
        self.jobs_db = Database(settings.database_url, pool_size=4)
        self.serving = ServingStateHolder(
            self.db,
            default_engine=settings.default_engine,
            registry_loader=partial(load_active, metric=settings.gate_metric),
        )
        self.executor: Executor = make_executor(
            self.jobs_db, settings, on_finished=self.serving.refresh
        )
        self.writer = Writer(self.db)

    def start(self, *, poll: bool = True) -> None:
        migrate.upgrade(self.db.engine)
        self.writer.start()
        self.serving.refresh()
        if poll:
            self.serving.start(self.settings.refresh_interval_s, housekeeping=self.reap_tasks)

    def reap_tasks(self) -> None:
        """Fail jobs whose worker died, so none stays "running" forever."""
        with self.db.write() as conn:
            reaped = records.reap(conn, self.settings.task_heartbeat_timeout_s)
        if reaped:
            log.warning("marked %d jobs failed: their worker stopped responding", reaped)

    def store_impression(self, impression: impressions.Impression) -> Future[int]:
        """Store an impression through the writer: the future holds its id once committed.

        The one way a served panel is written, whoever serves it (HTTP or the CLI)."""
        return self.writer.submit(partial(impressions.write, impression=impression))

    def close(self) -> None:
        self.serving.stop()
        self.executor.close()
        self.writer.stop()
        self.jobs_db.dispose()
        self.db.dispose()
