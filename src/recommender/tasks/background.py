"""Periodic housekeeping work on a thread of its own, one run at a time."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Background:
    """Runs `work` on a daemon thread each time it is started, unless its last run is still
    going. The serving process's poll starts housekeeping work this way: a popularity recount
    or a retention pass can take minutes at a million users, and the poll also installs new
    catalogues and models, which must not wait for them."""

    def __init__(self, name: str, work: Callable[[], object]) -> None:
        self.name, self.work = name, work
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Start a run; False (and nothing started) while the last one is still going."""
        if self._thread is not None and self._thread.is_alive():
            return False
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return True

    def wait(self, timeout: float | None = None) -> None:
        """Until the run `start` began has ended (or `timeout` seconds)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self.work()
        except Exception:  # the next start tries again
            log.exception("%s failed", self.name)
