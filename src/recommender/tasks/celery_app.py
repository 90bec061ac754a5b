"""The Celery application: Redis broker and result store, JSON only, late acknowledgement."""

from __future__ import annotations

import logging
import socket
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from recommender.config import Settings, get_settings
from recommender.observability.errors import init_sentry
from recommender.observability.logs import configure as configure_logs
from recommender.store import migrate
from recommender.store.database import Database

log = logging.getLogger(__name__)

QUEUE = "recommender"
# Workers are named NODE@host; Celery expands `%h` to the host name.
NODE = "recommender"
_databases: dict[str, Database] = {}


def _database(url: str) -> Database:
    # One engine per worker process, created after the fork (engines must not cross forks).
    if url not in _databases:
        _databases[url] = Database(url, pool_size=2)
    return _databases[url]


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _fresh_connections(**_: Any) -> None:
    _databases.clear()


def make_celery(settings: Settings) -> Celery:
    app = Celery("recommender", broker=settings.redis_url, backend=settings.redis_url)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=QUEUE,
        # Acknowledged after the job, so a job whose worker vanished before running it is
        # delivered again; the tasks table keeps a finished job from running twice.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_max_tasks_per_child=20,
        task_time_limit=settings.job_time_limit_s,
        broker_transport_options={"visibility_timeout": settings.job_time_limit_s * 2},
        broker_connection_retry_on_startup=True,
        result_expires=24 * 3600,
        worker_hijack_root_logger=False,
    )

    @app.task(name="recommender.run_task")  # type: ignore[untyped-decorator]
    def run(task_id: str) -> dict[str, Any] | None:
        from recommender.tasks.runner import run_task

        current = get_settings()
        return run_task(_database(current.database_url), current, task_id)

    @app.task(name="recommender.tick")  # type: ignore[untyped-decorator]
    def tick() -> list[str]:
        from recommender.tasks import schedule
        from recommender.tasks.executor import CeleryExecutor

        current = get_settings()
        db = _database(current.database_url)
        return schedule.tick(db, current, CeleryExecutor(db, current, app=app).submit)

    from recommender.tasks.schedule import TICK_S, enabled

    if enabled(settings):
        app.conf.beat_schedule = {
            "scheduled-training": {"task": "recommender.tick", "schedule": TICK_S}
        }
    return app


def local_worker_name() -> str:
    """The name of a worker started on this host (a container's host name is its own)."""
    return f"{NODE}@{socket.gethostname()}"


def run_beat(settings: Settings, *, schedule_file: str, loglevel: str) -> None:
    """Run only the scheduler of periodic work: it sends the scheduled-training check to the
    workers every few seconds. Exactly one per deployment."""
    configure_logs(settings.log_level, settings.log_format)
    init_sentry(settings, component="scheduler")
    app = make_celery(settings)
    app.Beat(loglevel=loglevel.upper(), schedule=schedule_file).run()


def run_worker(
    settings: Settings,
    *,
    concurrency: int,
    pool: str,
    loglevel: str,
    beat: bool = False,
    schedule_file: str | None = None,
) -> None:
    """Migrate the database, then consume jobs until stopped; with `beat` the worker also
    runs the periodic scheduler (one such worker per deployment)."""
    configure_logs(settings.log_level, settings.log_format)
    init_sentry(settings, component="worker")
    db = Database(settings.database_url, pool_size=1)
    try:
        migrate.upgrade(db.engine)
    finally:
        db.dispose()
    app = make_celery(settings)
    app.worker_main(
        argv=[
            "worker",
            f"--loglevel={loglevel.upper()}",
            f"--concurrency={concurrency}",
            f"--pool={pool}",
            f"--queues={QUEUE}",
            f"--hostname={NODE}@%h",
            "--without-gossip",
            "--without-mingle",
            *(["--beat"] if beat else []),
            *([f"--schedule={schedule_file}"] if beat and schedule_file else []),
        ]
    )
