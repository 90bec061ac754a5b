"""A real server on loopback and Debian's headless Chromium driven by Playwright, watching
each page for console errors and for any request that would leave this machine."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Route, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
# As the project's CI starts it (as root, so without the sandbox), with a fresh profile.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
WIDE, NARROW = {"width": 1280, "height": 900}, {"width": 390, "height": 844}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn on a loopback port, in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@dataclass
class Watch:
    """What the pages of one browser context did that they should not have."""

    console_errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> Page:
        def console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.console_errors.append(f"{page.url}: {message.text}")

        page.on("console", console)
        page.on("pageerror", lambda error: self.console_errors.append(f"{page.url}: {error}"))
        return page

    def assert_clean(self) -> None:
        assert self.console_errors == [], self.console_errors
        assert self.outside == [], f"requests that would leave this machine: {self.outside}"


def _route(watch: Watch, route: Route) -> None:
    url = route.request.url
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob") or parts.hostname in LOOPBACK:
        route.continue_()
        return
    watch.outside.append(url)
    route.abort("internetdisconnected")  # as behind a firewall: nothing goes out


@contextmanager
def chromium(viewport: dict[str, int] = WIDE) -> Iterator[tuple[BrowserContext, Watch]]:
    """A fresh Chromium profile whose only way out is loopback; fails (never skips) when
    Chromium is missing, since CI installs it."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does)")
    watch = Watch()
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            chromium_sandbox=False,
            args=FLAGS,
            viewport=viewport,
        )
        try:
            context.route("**/*", lambda route: _route(watch, route))
            yield context, watch
        finally:
            context.close()


def new_page(context: BrowserContext, watch: Watch) -> Page:
    return watch.attach(context.new_page())


def screenshot(page: Page, name: str) -> None:
    """Kept where DASHBOARD_SCREENSHOTS points (the README's pictures are made so)."""
    folder = os.environ.get("DASHBOARD_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
