"""The API's documentation renders with the network blocked: its scripts, styles and fonts
all come from the package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from recommender.api.app import create_app
from tests.api.browser import chromium, live_server, new_page, screenshot
from tests.api.conftest import make_settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("docs")
    app = create_app(make_settings(f"sqlite:///{folder / 'docs.db'}", folder))
    with live_server(app) as url:
        yield url


@pytest.mark.parametrize("path", ["/", "/docs"])
def test_swagger_ui_renders_with_the_network_blocked(server: str, path: str) -> None:
    with chromium() as (context, watch):
        page = new_page(context, watch)
        page.goto(server + path)
        operation = page.locator(".opblock-summary-path", has_text="/recommendations").first
        operation.wait_for(timeout=30_000)
        assert page.locator(".opblock").count() >= 14  # every documented operation
        assert "marketplace-recommender" in page.locator(".info .title").inner_text()
        screenshot(page, "swagger-ui" if path == "/" else "swagger-ui-docs")
        watch.assert_clean()


def test_redoc_renders_with_the_network_blocked(server: str) -> None:
    with chromium() as (context, watch):
        page = new_page(context, watch)
        page.goto(server + "/redoc")
        page.get_by_role("heading", name="Recommend services for a panel").first.wait_for(
            timeout=30_000
        )
        watch.assert_clean()
