"""Synthetic visitors who use the real HTTP API: they ask for panels, and click and order as
their hidden interests say, through `POST /recommendations` and `POST /user_actions`.

The environment decides who visits, what they search for and how they respond; the server
decides what they see (whatever engine, experiment arm and session it applies). Each panel's
request carries the visitor's identity, the search filters and the services the search
matched (`candidates`), as the portal sends them; each click is posted as a page visit that
started on the panel, and each order as the next step of that journey.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from recommender.simulation.environment import MarketplaceEnv, Observation

PANEL_ROOT = "recommendation_panel"
# Seconds between a visitor's pages, and from a panel to the click on it.
PAGE_GAP_S = 40.0
CLICK_AFTER_S = 5.0


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


def _click(
    browser: str, user_id: int | None, visit: str, service: int, at: datetime, *, order: bool
) -> dict[str, Any]:
    root = {"type": PANEL_ROOT, "panel_id": "v1", "service_id": service}
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


def run_sessions(
    client: Client,
    env: MarketplaceEnv,
    episodes: Iterable[int],
    *,
    start: datetime,
    session_spacing_s: float,
    engine: str | None = None,
    browser_prefix: str = "visitor",
) -> list[Panel]:
    """Play each episode against the server, one visitor after another from `start`."""
    panels: list[Panel] = []
    for index, episode in enumerate(episodes):
        observation = env.reset(episode)
        browser = f"{browser_prefix}-{observation.unique_id}"
        at = start + timedelta(seconds=index * session_spacing_s)
        while True:
            visit = f"{browser}-{episode}-{observation.step}"
            body = _body(observation, browser, visit, at)
            if engine is not None:
                body["engine_version"] = engine
            answer = _post(client, "/recommendations", body).json()
            step = env.step(answer["recommendations"])
            clicked_at = at + timedelta(seconds=CLICK_AFTER_S)
            for service, clicked, ordered in zip(
                step.shown.tolist(), step.clicked.tolist(), step.ordered.tolist(), strict=True
            ):
                if clicked:
                    click = _click(
                        browser, observation.user_id, visit, service, clicked_at, order=False
                    )
                    _post(client, "/user_actions", click)
                if ordered:
                    order = _click(
                        browser, observation.user_id, visit, service, clicked_at, order=True
                    )
                    _post(client, "/user_actions", order)
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
                )
            )
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
