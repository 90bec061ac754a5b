"""The two routes portals call many times a second, answered without the framework's layers.

`POST /recommendations` and `POST /user_actions` spent about half of their time in the
framework: nine middleware layers, each wrapping `send`, routing, and the dependency and body
resolution. Here a well-formed request with a JSON body goes straight from the server to the
route's own function, through the same request context, CORS and rate limit as every other
request, the same access check, the same model validation and the same error answers.
Whatever is not plainly well formed (another content type, a body over the limit, JSON that
does not parse or validate) is handed, body included, to the full application, which answers
it exactly as before: this path only ever serves what the full one would have served alike.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recommender.api.security import Role, Tokens, authorize
from recommender.runtime import Runtime

log = logging.getLogger(__name__)

# The route's own function: the validated body and the runtime in, the answer out.
Handler = Callable[[Any, Runtime], Awaitable[Response]]
Wrap = Callable[[ASGIApp], ASGIApp]

_BODY = "recommender.body"
_ROUTE = "recommender.hot_route"


@dataclass(frozen=True)
class HotRoute:
    model: type[BaseModel]
    handle: Handler
    # The framework's route for the same path: request metrics are labelled with its path.
    route: APIRoute


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers") or ():
        if name == b"content-type":
            kind = bytes(value)
            return kind == b"application/json" or kind.startswith(b"application/json;")
    return False


async def _read_body(receive: Receive, limit: int) -> tuple[bytes | None, list[Message]]:
    """The whole body, or None once it passes `limit` bytes or the client leaves; with the
    messages read so far, for the full application to read again."""
    read: list[Message] = []
    size = 0
    while True:
        message = await receive()
        read.append(message)
        if message["type"] != "http.request":
            return None, read
        size += len(message.get("body", b""))
        if size > limit:
            return None, read
        if not message.get("more_body", False):
            break
    return b"".join(m.get("body", b"") for m in read), read


def _replay(read: list[Message], receive: Receive) -> Receive:
    pending = iter(read)

    async def replaying() -> Message:
        message = next(pending, None)
        return message if message is not None else await receive()

    return replaying


class HotPaths:
    """Serves `routes` for `app`; `wraps` are the middleware a request meets, outermost
    first (built with the same settings, and so sharing state such as rate-limit buckets)."""

    def __init__(
        self,
        app: FastAPI,
        routes: Mapping[str, HotRoute],
        *,
        body_limit: int,
        wraps: list[Wrap],
    ) -> None:
        self.app = app
        self.routes = dict(routes)
        self.body_limit = body_limit
        chain: ASGIApp = self._answer
        for wrap in reversed(wraps):
            chain = wrap(chain)
        self._chain = chain

    async def serve(
        self, route: HotRoute, scope: Scope, receive: Receive, send: Send, full: ASGIApp
    ) -> None:
        body, read = await _read_body(receive, self.body_limit) if _is_json(scope) else (None, [])
        parsed: BaseModel | None = None
        if body is not None:
            try:
                parsed = route.model.model_validate(orjson.loads(body))
            except (orjson.JSONDecodeError, ValidationError):
                parsed = None
        if parsed is None:
            await full(scope, _replay(read, receive), send)
            return
        scope[_BODY] = parsed
        scope[_ROUTE] = route
        scope["route"] = route.route
        await self._chain(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: HotRoute = scope[_ROUTE]
        try:
            tokens: Tokens = self.app.state.tokens
            authorize(tokens, _authorization(scope), Role.CLIENT)
            response = await route.handle(scope[_BODY], self.app.state.runtime)
        except Exception as error:
            response = await self._render(scope, error)
        await response(scope, receive, send)

    async def _render(self, scope: Scope, error: Exception) -> Response:
        """The answer the application's own exception handlers give for `error`."""
        handlers = self.app.exception_handlers
        for kind in type(error).__mro__:
            handler = handlers.get(kind)
            if handler is not None:
                response = handler(Request(scope), error)
                if inspect.isawaitable(response):
                    response = await response
                assert isinstance(response, Response)
                return response
        raise error


def _authorization(scope: Scope) -> str | None:
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            return bytes(value).decode("latin-1")
    return None


class ServiceApp(FastAPI):
    """FastAPI, with `hot` paths answered by `HotPaths` before the middleware stack."""

    hot: HotPaths | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = self.hot
        if hot is not None and scope["type"] == "http" and scope["method"] == "POST":
            route = hot.routes.get(scope["path"])
            if route is not None:
                await hot.serve(route, scope, receive, send, super().__call__)
                return
        await super().__call__(scope, receive, send)
