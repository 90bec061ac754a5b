"""Per-request context: a request id (taken from X-Request-Id or made), a latency sample,
and one log line per request."""

from __future__ import annotations

import itertools
import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recommender.observability.logs import caller, request_id
from recommender.observability.metrics import REQUEST_SECONDS

log = logging.getLogger("recommender.requests")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Unique across processes and restarts by a random prefix, then a counter: uuid4 reads the
# system's random source on every request, a call that gives up the interpreter lock and
# then waits for it behind the writer thread.
_PREFIX = uuid.uuid4().hex[:16]
_COUNTER = itertools.count(1)


def _new_id() -> str:
    return f"{_PREFIX}{next(_COUNTER):016x}"


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        current = incoming if _SAFE_ID.match(incoming) else _new_id()
        token = request_id.set(current)
        who = caller.set(None)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", current.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            # Unmatched paths share one label, so random URLs cannot flood the metrics.
            template = getattr(route, "path", "unmatched")
            REQUEST_SECONDS.labels(scope["method"], template, str(status)).observe(elapsed)
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "%s %s %s",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "caller": caller.get() or "anonymous",
                    },
                )
            caller.reset(who)
            request_id.reset(token)
