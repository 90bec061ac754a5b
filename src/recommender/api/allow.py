"""A 405 names every method its path serves, as the OpenAPI document lists them.

Starlette answers a method no route serves with the `Allow` of the first route whose path
matched, so a path served by two routes (`GET` and `POST /training`) advertised only one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cached_property
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def documented_methods(document: dict[str, Any]) -> list[tuple[re.Pattern[str], str]]:
    """(path pattern, `Allow` value) for every path of an OpenAPI document."""
    found = []
    for template, operations in document.get("paths", {}).items():
        pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")
        methods = sorted(method.upper() for method in operations if method in HTTP_METHODS)
        if "GET" in methods:
            methods.append("HEAD")  # served with every GET
        found.append((pattern, ", ".join(methods)))
    return found


class AllowEveryMethod:
    def __init__(self, app: ASGIApp, document: Callable[[], dict[str, Any]]) -> None:
        self.app = app
        self.document = document

    @cached_property
    def paths(self) -> list[tuple[re.Pattern[str], str]]:
        return documented_methods(self.document())

    def allow(self, path: str) -> str | None:
        return next((allow for pattern, allow in self.paths if pattern.match(path)), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                allow = self.allow(scope["path"])
                if allow is not None:
                    headers = [(k, v) for k, v in message["headers"] if k.lower() != b"allow"]
                    message = {**message, "headers": [*headers, (b"allow", allow.encode())]}
            await send(message)

        await self.app(scope, receive, send_with_allow)
