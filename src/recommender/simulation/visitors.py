"""Synthetic visitors who use the real HTTP API: they ask for panels, and click and order as
their hidden interests say, through `POST /recommendations` and `POST /user_actions`.

The environment decides who visits, what they search for and how they respond; the server
decides what they see (whatever engine, experiment arm and session it applies). Each panel's
request carries the visitor's identity, the search filters and the services the search
matched (`candidates`), as the portal sends them; each click is posted as a page visit that
started on the panel, and each order as the next step of that journey. When the environment
browses, each search result the visitor opens is posted the same way with the catalogue list
(`other`) as its journey's root, so the server's session holds it but no panel is credited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np

from recommender.simulation.environment import MarketplaceEnv, Observation, Step
from recommender.simulation.policies import OraclePolicy

PANEL_ROOT = "recommendation_panel"
# The root the portal gives a journey that began on the list of search results.
LIST_ROOT = "other"
# Seconds between a visitor's pages, from a panel to the click on it, and to opening search
# results (after the panel, as the environment decides, and before the next page).
PAGE_GAP_S = 40.0
CLICK_AFTER_S = 5.0
OPEN_AFTER_S = 15.0


class Response(Protocol):
    status_code: int

    def json(self) -> Any: ...


class Client(Protocol):
    """What drives the server: an HTTP client with relative URLs (httpx, a test client)."""

    def post(self, url: str, *, json: Any) -> Any: ...


class ServerError(RuntimeError):
    pass


@dataclass(frozen=True)
class Panel:
    """One panel as the visitor experienced it."""

    episode: int
    step: int
    anonymous: bool
    engine: str
    experiment: str | None
    arm: str | None
    shown: int
    clicked: int
    ordered: int
    at: datetime
    # Search results opened on the panel's page, and orders of those (browsing only).
    opened: int = 0
    opened_ordered: int = 0
    # P(at least one click) of the panel shown, and of the best panel of the services the
    # server may show this visitor (the choice model's own ranking): exact expectations, so
    # per-day figures carry no draw noise and the second factors out each page's difficulty.
    expected: float = 0.0
    best: float = 0.0


def _body(observation: Observation, browser: str, visit: str, at: datetime) -> dict[str, Any]:
    search = {k: v for k, v in observation.search_data.items() if k != "q"}
    body: dict[str, Any] = {
        "unique_id": browser,
        "timestamp": at.isoformat(),
        "visit_id": visit,
        "page_id": "/services",
        "panel_id": "v1" if observation.panel_size == 3 else "v2",
        "candidates": observation.candidates.tolist(),
        "search_data": search,
    }
    if observation.user_id is not None:
        body["user_id"] = observation.user_id
    return body


def _post(client: Client, url: str, body: dict[str, Any]) -> Any:
    response = client.post(url, json=body)
    if response.status_code >= 300:
        raise ServerError(f"{url} answered {response.status_code}: {response.text[:300]}")
    return response


def _root(service: int, *, panel: bool) -> dict[str, Any]:
    if panel:
        return {"type": PANEL_ROOT, "panel_id": "v1", "service_id": service}
    return {"type": LIST_ROOT, "service_id": service}


def _click(
    browser: str,
    user_id: int | None,
    visit: str,
    service: int,
    at: datetime,
    *,
    order: bool,
    panel: bool = True,
) -> dict[str, Any]:
    root = _root(service, panel=panel)
    if order:
        source = {
            "visit_id": f"{visit}-{service}",
            "page_id": f"/services/{service}/offers",
            "root": root,
        }
        target = {"visit_id": f"{visit}-{service}-order", "page_id": f"/services/{service}/summary"}
    else:
        source = {"visit_id": visit, "page_id": "/services", "root": root}
        target = {"visit_id": f"{visit}-{service}", "page_id": f"/services/{service}"}
    body: dict[str, Any] = {
        "unique_id": browser,
        "timestamp": at.isoformat(),
        "source": source,
        "target": target,
        "action": {"type": "button", "text": "Order" if order else "", "order": order},
    }
    if user_id is not None:
        body["user_id"] = user_id
    return body


def _post_journeys(
    client: Client,
    page: tuple[str, int | None, str],
    clicked: list[int],
    ordered: list[bool],
    at: datetime,
    *,
    panel: bool = True,
) -> None:
    """Post each click a page's panel (or its search results) got, and the order that
    followed it, if any; `page` is the browser, user and visit of the page."""
    browser, user_id, visit = page
    for service, then_ordered in zip(clicked, ordered, strict=True):
        click = _click(browser, user_id, visit, service, at, order=False, panel=panel)
        _post(client, "/user_actions", click)
        if then_ordered:
            order = _click(browser, user_id, visit, service, at, order=True, panel=panel)
            _post(client, "/user_actions", order)


def _panel_orders(step: Step) -> list[int]:
    return [int(s) for s in step.shown[step.clicked & step.ordered]]


def _best_chance(
    oracle: OraclePolicy,
    observation: Observation,
    profile: int | None,
    ordered: dict[int, set[int]],
) -> float:
    """The click chance of the best panel the server could show: the page's candidates less
    what the server leaves out by default (the visitor's used and ordered services and what
    the session opened, which `history` holds)."""
    if profile is None:
        return 0.0
    left_out = set(observation.history.tolist())
    if observation.user_id is not None:
        left_out |= ordered.get(observation.user_id, set())
    allowed = observation.candidates[~np.isin(observation.candidates, sorted(left_out))]
    shown = oracle(replace(observation, candidates=allowed))
    return oracle.behaviour.panel_click_chance(profile, shown)


def run_sessions(
    client: Client,
    env: MarketplaceEnv,
    episodes: Iterable[int],
    *,
    start: datetime,
    session_spacing_s: float,
    engine: str | None = None,
    browser_prefix: str = "visitor",
    ordered: dict[int, set[int]] | None = None,
) -> list[Panel]:
    """Play each episode against the server, one visitor after another from `start`.

    `ordered` holds the services each user ordered in earlier calls (the server leaves them
    out of that user's panels); this call's orders are added to it.
    """
    ordered = {} if ordered is None else ordered
    behaviour = env.behaviour
    oracle = OraclePolicy(behaviour)
    panels: list[Panel] = []
    for index, episode in enumerate(episodes):
        observation = env.reset(episode)
        profile = behaviour.profile_of(observation.user_id, observation.unique_id)
        browser = f"{browser_prefix}-{observation.unique_id}"
        at = start + timedelta(seconds=index * session_spacing_s)
        while True:
            visit = f"{browser}-{episode}-{observation.step}"
            body = _body(observation, browser, visit, at)
            if engine is not None:
                body["engine_version"] = engine
            answer = _post(client, "/recommendations", body).json()
            step = env.step(answer["recommendations"])
            best = _best_chance(oracle, observation, profile, ordered)
            page = (browser, observation.user_id, visit)
            clicked_at = at + timedelta(seconds=CLICK_AFTER_S)
            clicks = step.shown[step.clicked].tolist()
            _post_journeys(client, page, clicks, step.ordered[step.clicked].tolist(), clicked_at)
            opened_at = at + timedelta(seconds=OPEN_AFTER_S)
            opened = step.opened.tolist()
            orders = step.opened_ordered.tolist()
            _post_journeys(client, page, opened, orders, opened_at, panel=False)
            panels.append(
                Panel(
                    episode=episode,
                    step=observation.step,
                    anonymous=observation.user_id is None,
                    engine=answer["engine_version"],
                    experiment=answer.get("experiment"),
                    arm=answer.get("arm"),
                    shown=int(step.shown.shape[0]),
                    clicked=int(step.clicked.sum()),
                    ordered=int(step.ordered.sum()),
                    at=at,
                    opened=int(step.opened.shape[0]),
                    opened_ordered=int(step.opened_ordered.sum()),
                    expected=behaviour.panel_click_chance(profile, step.shown)
                    if profile is not None
                    else 0.0,
                    best=best,
                )
            )
            if observation.user_id is not None:
                done = [*_panel_orders(step), *step.opened[step.opened_ordered].tolist()]
                ordered.setdefault(observation.user_id, set()).update(done)
            if step.done:
                break
            observation = step.observation
            at += timedelta(seconds=PAGE_GAP_S)
    return panels


def anonymous_episodes(env: MarketplaceEnv, count: int, first: int = 0) -> list[int]:
    """The first `count` episodes from `first` whose visitor is not logged in."""
    found: list[int] = []
    episode = first
    while len(found) < count:
        if env.schedule.visitor(episode).user_id is None:
            found.append(episode)
        episode += 1
    return found
