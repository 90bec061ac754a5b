"""The Marketplace's pages: page ids, the service a page is about, and the page graph."""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from recommender.contract.ids import MAX_ID

# The packaged EOSC extract that carries the page graph (see fixtures/README.md).
GRAPH_FIXTURE = "eosc_vocabulary.json"
_SERVICE_PAGE = re.compile(r"^/services/(\d+)(?:/|$)")


def service_of_page(page_id: str | None) -> int | None:
    """The numeric service id in `/services/{id}` and its sub-pages, else None."""
    if not page_id:
        return None
    match = _SERVICE_PAGE.match(page_id)
    if match is None:
        return None
    value = int(match.group(1))
    return value if value <= MAX_ID else None


CATALOGUE = "/services"
SERVICE = "/services/{id}"
ORDER = "order"
UNKNOWN = "unknown_page_id"


@dataclass(frozen=True)
class PageGraph:
    """Abstract pages (`/services/{id}/offers`) and the moves between them.

    The adjacency matrix of the seed data has no row for the catalogue list `/services`; its
    transition labels name one move out of it, to a service page, which is the move a click on a
    search result or a recommendation panel makes. `order` is the pseudo-page an order reaches.
    """

    pages: tuple[str, ...]
    moves: Mapping[str, tuple[str, ...]]
    rewards: Mapping[tuple[str, str], str]

    @classmethod
    def from_fixture(cls, doc: Mapping[str, Any]) -> PageGraph:
        pages = tuple(doc["pages"])
        moves: dict[str, tuple[str, ...]] = {CATALOGUE: (SERVICE,)}
        for source, row in zip(pages, doc["allowed"], strict=True):
            moves[source] = tuple(t for t, ok in zip(pages, row, strict=True) if ok)
        rewards = {
            (source, target): label
            for source, row in zip(doc["reward_sources"], doc["rewards"], strict=True)
            for target, label in zip(doc["reward_pages"], row, strict=True)
        }
        return cls(pages=(CATALOGUE, *pages), moves=moves, rewards=rewards)

    def allowed(self, source: str, target: str) -> bool:
        return target in self.moves.get(source, ())

    def distance_to_order(self) -> dict[str, int]:
        """Fewest moves from each page to an order; pages that cannot reach one are left out."""
        reverse: dict[str, list[str]] = {}
        for source, targets in self.moves.items():
            for target in targets:
                reverse.setdefault(target, []).append(source)
        distance = {ORDER: 0}
        queue = deque([ORDER])
        while queue:
            page = queue.popleft()
            for source in reverse.get(page, ()):
                if source not in distance:
                    distance[source] = distance[page] + 1
                    queue.append(source)
        return distance

    def reward(self, source: str, target: str) -> str:
        """The seed data's label of a move (`interest`, `order`, ...), as the RL engine reads it."""
        return self.rewards.get((source, target), "unknown_transition")


def concrete(page: str, service_id: int) -> str:
    """The page id the portal sends for an abstract page of one service."""
    return page.replace("{id}", str(service_id))


def abstract(page_id: str) -> str:
    """The abstract page of a concrete page id: `/services/12/offers` -> `/services/{id}/offers`."""
    parts = page_id.split("/")
    if len(parts) < 2 or parts[1] not in ("services", "comparisons"):
        return UNKNOWN
    if parts[1] == "comparisons":
        return "/comparisons" if len(parts) == 2 else UNKNOWN
    if len(parts) == 2:
        return CATALOGUE
    parts[2] = "{id}"
    return "/".join(parts)


@cache
def portal_graph() -> PageGraph:
    """The Marketplace's own page graph and transition labels, packaged with the service."""
    text = resources.files("recommender").joinpath("fixtures", GRAPH_FIXTURE).read_text("utf-8")
    return PageGraph.from_fixture(json.loads(text)["page_graph"])
