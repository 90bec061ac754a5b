"""A per-client token bucket for the public endpoints; over the limit means 429."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

from recommender.api.errors import ErrorBody
from recommender.api.security import bearer

MAX_CLIENTS = 100_000  # buckets kept; the least recently seen are forgotten beyond this


class TokenBuckets:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, client: str, now: float | None = None) -> float:
        """0 when the request may pass, else seconds until it could."""
        now = time.monotonic() if now is None else now
        with self._lock:
            level, stamp = self._buckets.pop(client, (self.burst, now))
            level = min(self.burst, level + (now - stamp) * self.rate)
            if level >= 1.0:
                self._buckets[client] = (level - 1.0, now)
                wait = 0.0
            else:
                self._buckets[client] = (level, now)
                wait = (1.0 - level) / self.rate
            while len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
        return wait


class RateLimit:
    """Limits requests to `paths` per client: its bearer token, else its address."""

    def __init__(self, app: ASGIApp, *, buckets: TokenBuckets, paths: frozenset[str]) -> None:
        self.app = app
        self.buckets = buckets
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        headers: Mapping[bytes, bytes] = dict(scope.get("headers") or [])
        token = bearer(headers.get(b"authorization", b"").decode("latin-1"))
        client = f"token:{token}" if token else f"ip:{(scope.get('client') or ('?', 0))[0]}"
        wait = self.buckets.take(client)
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        body = ErrorBody(message="too many requests: slow down and retry later").model_dump_json()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body.encode())).encode()),
                    (b"retry-after", str(max(1, math.ceil(wait))).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})
