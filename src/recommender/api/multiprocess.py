"""Serving the API from several processes: gunicorn supervising uvicorn workers.

The master process binds the socket, starts the workers, replaces any that die and stops them
gracefully. It loads no application: each worker calls the app factory after the fork and so
builds its own Runtime (database engine, serving state, writer), since connections and threads
must not cross a fork.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

log = logging.getLogger(__name__)

WORKER_CLASS = "uvicorn_worker.UvicornWorker"
# A worker first reports to the master once its event loop runs, which is after its start-up
# has loaded the catalogue and every active model: tens of seconds on a large catalogue.
# The master replaces a worker silent for longer than this.
WORKER_TIMEOUT_S = 120
# Read by prometheus_client itself: where each process keeps its metric files.
PROMETHEUS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def bind_address(host: str, port: int) -> str:
    """gunicorn's `host:port`, with IPv6 addresses in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _on_starting(_server: Any) -> None:
    # Metric files of a previous run would be added to this run's totals.
    folder = os.environ.get(PROMETHEUS_DIR_VARIABLE)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for stale in Path(folder).glob("*.db"):
            stale.unlink()


def _child_exit(_server: Any, worker: Any) -> None:
    # A dead worker's live gauges must stop counting; its counters stay in the totals.
    if os.environ.get(PROMETHEUS_DIR_VARIABLE):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def gunicorn_options(
    *, host: str, port: int, workers: int, graceful_timeout: int, log_level: str
) -> dict[str, Any]:
    """The whole gunicorn configuration; nothing is read from files or GUNICORN_CMD_ARGS."""
    return {
        "bind": [bind_address(host, port)],
        "workers": workers,
        "worker_class": WORKER_CLASS,
        "timeout": WORKER_TIMEOUT_S,
        "graceful_timeout": graceful_timeout,
        "loglevel": log_level,
        # The application logs every request itself, with its id; gunicorn's own lines
        # (worker starts and deaths) go to standard error.
        "accesslog": None,
        "errorlog": "-",
        # The run-time control socket lives at one path per user, so two servers on a host
        # would fight over it; stopping and scaling go through signals and the deployment.
        "control_socket_disable": True,
        "on_starting": _on_starting,
        "child_exit": _child_exit,
    }


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """gunicorn configured from a dict; each worker builds the app with the factory."""

    def __init__(self, options: dict[str, Any]) -> None:
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from recommender.api.app import server_app

        return server_app()


def serve_with_gunicorn(
    *, host: str, port: int, workers: int, graceful_timeout: int, log_level: str
) -> None:
    """Run until stopped: SIGTERM lets requests in flight finish within `graceful_timeout`."""
    options = gunicorn_options(
        host=host,
        port=port,
        workers=workers,
        graceful_timeout=graceful_timeout,
        log_level=log_level,
    )
    log.info("serving on %s with %d worker processes", options["bind"][0], workers)
    GunicornServer(options).run()
