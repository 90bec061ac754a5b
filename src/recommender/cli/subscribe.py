"""`recommender subscribe`: store the user actions of the databus until stopped."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import typer

from recommender.cli.app import app
from recommender.cli.output import report_error
from recommender.config import get_settings
from recommender.observability.errors import init_sentry
from recommender.observability.logs import configure as configure_logs
from recommender.store import migrate
from recommender.store.database import Database
from recommender.store.writer import Writer

log = logging.getLogger(__name__)


@app.command()
def subscribe() -> None:
    """Take user actions from DATABUS_ACTIONS_TOPIC (STOMP) into the store until SIGTERM."""
    settings = get_settings()
    if settings.databus_host is None:
        report_error("DATABUS_HOST is not set: there is no databus to subscribe to")
        raise typer.Exit(code=2)
    configure_logs(settings.log_level, settings.log_format)
    init_sentry(settings, component="subscriber")
    from recommender.databus.subscriber import Subscriber

    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping on %s: finishing the messages in hand", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    db = Database(settings.database_url, pool_size=4, statement_timeout_s=settings.db_timeout_s)
    writer = Writer(db)
    try:
        migrate.upgrade(db.engine)
        writer.start()
        Subscriber(settings, writer).run(stop)
    finally:
        writer.stop()
        db.dispose()
