"""The dashboard in a real browser: log in, every page renders clean at 1280 and 390 px, its
forms are labelled, charts have drawn points, jobs start from it, and a version activated
from it serves."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page

from recommender.api.app import create_app
from tests.api.browser import NARROW, WIDE, Watch, chromium, live_server, new_page, screenshot
from tests.api.conftest import make_settings
from tests.factories import recommendation_request, two_communities, user_action

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN = "admin-dashboard-token-0123456789"
CLIENT = "client-dashboard-token-0123456789"
PAGES = [
    "/dashboard",
    "/dashboard/engines",
    "/dashboard/models/ncf/1",
    "/dashboard/experiments",
    "/dashboard/experiments/1",
    "/dashboard/jobs",
    "/dashboard/recommendations",
]
EXPERIMENT = {
    "name": "popularity-vs-random",
    "panels": ["v1"],
    "arms": [
        {"name": "control", "engine": "popularity", "weight": 1},
        {"name": "shuffled", "engine": "random", "weight": 1},
    ],
}

# Every visible form control, and whether something names it for a screen reader.
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter(el => el.type !== 'hidden')
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby') && !(el.textContent || '').trim())
  .map(el => el.outerHTML)"""
# The elements that stick out of the window, for the message when something does.
WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
  .filter(el => !el.closest('.scroll'))
  .slice(0, 5).map(el => el.tagName + '.' + el.className)"""
# How many pixels of a chart's canvas uPlot painted (not transparent).
PAINTED = """box => { const canvas = box.querySelector('canvas');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0; for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) painted++; }
  return painted; }"""


@dataclass
class Site:
    url: str
    api: httpx.Client

    def wait_for_jobs(self) -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            tasks = self.api.get("/tasks").json()["tasks"]
            if all(task["state"] in ("succeeded", "failed") for task in tasks):
                assert all(task["state"] == "succeeded" for task in tasks), tasks
                return
            time.sleep(0.5)
        raise AssertionError("jobs did not finish in 5 minutes")

    def serving(self, engine: str) -> Any:
        engines = self.api.get("/engines").json()["engines"]
        return next(e["active_version"] for e in engines if e["name"] == engine)


def visitors(api: httpx.Client) -> None:
    """Panels served to a few visitors, some clicked and one ordered from."""
    for n in range(12):
        body = recommendation_request(
            unique_id=f"browser-{n}", visit_id=f"visit-{n}", user_id=n + 1 if n % 2 else None
        )
        shown = api.post("/recommendations", json=body).json()
        if n % 3 == 0:
            service = shown["recommendations"][0]
            root = {"type": "recommendation_panel", "panel_id": "v1", "service_id": service}
            click = user_action(
                unique_id=f"browser-{n}",
                recommendation_id=shown["recommendation_id"],
                source={"visit_id": f"visit-{n}", "page_id": "/services", "root": root},
                target={"visit_id": f"visit-{n}b", "page_id": f"/services/{service}"},
            )
            assert api.post("/user_actions", json=click).status_code == 204
            if n == 0:
                order = user_action(
                    unique_id=f"browser-{n}",
                    timestamp="2026-11-27T10:03:00Z",
                    source={
                        "visit_id": f"visit-{n}b",
                        "page_id": f"/services/{service}",
                        "root": root,
                    },
                    target={"visit_id": f"visit-{n}c", "page_id": f"/services/{service}/offers"},
                    action={"type": "button", "text": "Order", "order": True},
                )
                assert api.post("/user_actions", json=order).status_code == 204


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder: Path = tmp_path_factory.mktemp("dashboard")
    settings = make_settings(
        f"sqlite:///{folder / 'dashboard.db'}",
        folder,
        api_tokens=f"admin:{ADMIN},client:{CLIENT}",
        rate_limit_per_s=0,
        refresh_interval_s=0.5,
    )
    with (
        live_server(create_app(settings)) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60) as api,
    ):
        assert api.post("/database_dumps", json=two_communities()).status_code == 204
        site = Site(url, api)
        site.wait_for_jobs()
        # ncf records training curves; the dashboard draws them.
        assert api.post("/training").status_code == 200
        site.wait_for_jobs()
        created = api.post("/experiments", json=EXPERIMENT)
        assert created.status_code == 201 and created.json()["id"] == 1, created.text
        visitors(api)
        yield site


def logged_in(context: BrowserContext, watch: Watch, site: Site) -> Page:
    page = new_page(context, watch)
    page.goto(site.url + "/dashboard")
    assert page.url.endswith("/dashboard/login")  # no session yet
    screenshot(page, "dashboard-login")
    page.get_by_label("Admin token").fill(ADMIN)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(site.url + "/dashboard")
    assert ADMIN not in page.url
    return page


def test_a_client_token_does_not_open_the_dashboard(site: Site) -> None:
    with chromium() as (context, watch):
        page = new_page(context, watch)
        page.goto(site.url + "/dashboard/login")
        page.get_by_label("Admin token").fill(CLIENT)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("alert").wait_for()
        assert "needs an admin token" in page.get_by_role("alert").inner_text()
        page.goto(site.url + "/dashboard/engines")
        assert page.url.endswith("/dashboard/login")
        assert not [c for c in context.cookies() if c["name"] == "recommender_dashboard"]


@pytest.mark.parametrize("viewport", [WIDE, NARROW], ids=["1280px", "390px"])
def test_every_page_renders_clean_and_labelled(site: Site, viewport: dict[str, int]) -> None:
    with chromium(viewport) as (context, watch):
        page = logged_in(context, watch, site)
        (cookie,) = [c for c in context.cookies() if c["name"] == "recommender_dashboard"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert ADMIN not in cookie["value"]
        for path in PAGES:
            page.goto(site.url + path)
            page.wait_for_load_state("networkidle")
            assert page.locator("h1").count() == 1, page.content()[:300]
            assert page.evaluate(UNLABELLED) == [], path
            # Usable at this width: nothing but the tables' own scrolling boxes is wider.
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            wide = page.evaluate(WIDEST)
            assert overflow <= 0, f"{path} is {overflow} px wider than the window: {wide}"
            name = path.strip("/").replace("/", "-")
            if viewport is WIDE:
                screenshot(page, name)
            elif path in ("/dashboard", "/dashboard/engines"):
                screenshot(page, f"{name}-390px")
        watch.assert_clean()


def test_charts_have_drawn_points(site: Site) -> None:
    with chromium() as (context, watch):
        page = logged_in(context, watch, site)
        activity = page.locator("#activity-chart .plot")
        activity.locator("canvas").wait_for()
        assert int(activity.get_attribute("data-points") or 0) >= 3 * 30
        assert page.locator("#activity-chart .plot").evaluate(PAINTED) > 500
        page.goto(site.url + "/dashboard/engines")
        curves = page.locator("#ncf .plot")
        assert curves.count() >= 2  # loss and time per epoch at least
        first = curves.first
        first.locator("canvas").wait_for()
        assert int(first.get_attribute("data-points") or 0) > 0
        assert first.evaluate(PAINTED) > 500
        watch.assert_clean()


def test_train_from_the_jobs_page_then_roll_back_from_the_engines_page(site: Site) -> None:
    with chromium() as (context, watch):
        page = logged_in(context, watch, site)
        page.goto(site.url + "/dashboard/jobs")
        before = site.api.get("/models/ease").json()["count"]
        page.get_by_label("Train").select_option("ease")
        page.get_by_role("button", name="Start training").click()
        page.get_by_role("status").wait_for()
        assert "Training ease" in page.get_by_role("status").inner_text()
        site.wait_for_jobs()
        assert site.api.get("/models/ease").json()["count"] == before + 1
        newest = site.serving("ease")
        assert newest == before + 1
        page.goto(site.url + "/dashboard/engines")
        serving = page.locator('[data-engine-serving="ease"]')
        assert serving.inner_text() == f"v{newest}"
        page.get_by_role("button", name=f"Roll back to v{newest - 1}").click()
        page.wait_for_url(f"{site.url}/dashboard/engines#ease")
        assert serving.inner_text() == f"v{newest - 1}"
        assert f"ease v{newest - 1} now serves" in page.get_by_role("status").inner_text()
        assert site.serving("ease") == newest - 1
        page.goto(site.url + f"/dashboard/models/ease/{newest}")
        page.get_by_role("button", name=f"Activate v{newest}").click()
        page.wait_for_url(f"{site.url}/dashboard/engines#ease")
        assert site.serving("ease") == newest
        watch.assert_clean()


def test_recent_recommendations_show_explanations_and_what_followed(site: Site) -> None:
    with chromium() as (context, watch):
        page = logged_in(context, watch, site)
        page.goto(site.url + "/dashboard/recommendations")
        panels = page.locator("article.panel")
        assert panels.count() >= 12
        text = page.locator("main").inner_text()
        assert "ordered →" in text and "button “Details” →" in text
        assert page.locator(".why").count() >= 12 * 3
        watch.assert_clean()


def test_logging_out_ends_the_session(site: Site) -> None:
    with chromium() as (context, watch):
        page = logged_in(context, watch, site)
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(site.url + "/dashboard/login")
        page.goto(site.url + "/dashboard/jobs")
        assert page.url.endswith("/dashboard/login")
        watch.assert_clean()


def test_an_experiment_reports_its_arms_and_stops_from_its_page(site: Site) -> None:
    with chromium() as (context, watch):
        page = logged_in(context, watch, site)
        page.goto(site.url + "/dashboard/experiments")
        page.get_by_role("link", name="popularity-vs-random").click()
        page.wait_for_url(site.url + "/dashboard/experiments/1")
        report = site.api.get("/experiments/1").json()
        shown = page.locator("#arms tbody tr")
        assert shown.count() == len(report["arms"]) == 2
        for row, arm in zip(shown.all(), report["arms"], strict=True):
            cells = row.locator("td").all_inner_texts()
            assert cells[1] == str(arm["visitors"]) and cells[2] == str(arm["impressions"])
        assert sum(arm["visitors"] for arm in report["arms"]) > 0
        ctr = page.locator("#experiment-1 .plot")
        ctr.locator("canvas").wait_for()
        assert int(ctr.get_attribute("data-points") or 0) >= 2 * 3  # value, low, high per arm
        assert ctr.evaluate(PAINTED) > 200
        page.get_by_role("button", name="Stop the experiment").click()
        page.wait_for_url(site.url + "/dashboard/experiments/1")
        assert page.locator("[data-experiment-status]").inner_text() == "stopped"
        assert "stopped" in page.get_by_role("status").inner_text()
        assert page.get_by_role("button", name="Stop the experiment").count() == 0
        assert site.api.get("/experiments/1").json()["experiment"]["status"] == "stopped"
        watch.assert_clean()
