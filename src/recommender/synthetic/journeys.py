"""Sessions of visitors: searches, panels, clicks and page moves, as `/user_actions` records.

A session looks for services of one of the visitor's clusters. Each search opens a catalogue
page (`/services`, a new visit id) whose recommendation panel the logging policy fills; the
visitor examines the panel and the first page of results, and every click starts a journey.
A journey walks the portal's page graph from the service page, one page visit (one visit id)
per move, sometimes opening a second tab; whether it ends in an order is the choice model's
draw, and a journey that orders walks to the summary page and sends the order from there.
Every action of a journey carries the root of its first click: the recommendation panel (in
the old or the new form of the contract) or `other` for a search result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from recommender.activity.pages import CATALOGUE, ORDER, SERVICE, PageGraph, concrete
from recommender.arrays import IntArray
from recommender.contract.recommendations import PANEL_SIZES
from recommender.synthetic.behaviour import BehaviourModel, Placement, Response
from recommender.synthetic.catalogue import Catalogue
from recommender.synthetic.logging_policy import LoggingPolicy
from recommender.synthetic.search import RESULTS_PER_PAGE, SearchIndex

COMPARISONS = "/comparisons"
# The RFC 4122 variant nibble (10xx) for each random hex digit.
_VARIANT = {digit: "89ab"[int(digit, 16) % 4] for digit in "0123456789abcdef"}
CLIENT_ID = "marketplace"
# What the visitor clicks to reach each page, as the portal reports it.
PAGE_ACTIONS = {
    SERVICE: ("tab", "About"),
    "/services/{id}/details": ("tab", "Details"),
    "/services/{id}/opinions": ("tab", "Reviews"),
    "/services/{id}/offers": ("button", "Access the service"),
    "/services/{id}/information": ("button", "Next"),
    "/services/{id}/configuration": ("button", "Next"),
    "/services/{id}/summary": ("button", "Next"),
    COMPARISONS: ("button", "Compare"),
    ORDER: ("button", "Send access request"),
}

# Pages on the way to an order.
_FUNNEL = frozenset(
    {
        "/services/{id}/offers",
        "/services/{id}/information",
        "/services/{id}/configuration",
        "/services/{id}/summary",
    }
)


class JourneyParams(BaseModel):
    """How visitors move through the portal; the defaults give journeys of a few pages."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_searches: int = Field(4, ge=1, description="Searches (catalogue visits) per session.")
    refine_share: float = Field(0.35, ge=0, le=1, description="P(another search) after one.")
    max_clicks: int = Field(3, ge=1, description="Journeys started from one catalogue visit.")
    progress_share: float = Field(
        0.65, ge=0, le=1, description="P(a move towards the order) on a journey that orders."
    )
    exit_share: float = Field(0.35, ge=0, le=1, description="P(leaving) after a page, at best.")
    branch_share: float = Field(0.08, ge=0, le=1, description="P(opening a page in a new tab).")
    related_share: float = Field(
        0.2, ge=0, le=1, description="P(a service-page move going to a related service)."
    )
    aai_only_share: float = Field(
        0.1, ge=0, le=1, description="Sessions of users with an AAI id that send only that id."
    )
    new_root_form_share: float = Field(
        0.5, ge=0, le=1, description="Journeys whose root uses the new (resource_*) form."
    )


@dataclass(frozen=True)
class Identity:
    """Who the portal says a session belongs to."""

    unique_id: str
    user_id: int | None = None
    aai_uid: str | None = None

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"unique_id": self.unique_id}
        if self.user_id is not None:
            out["user_id"] = self.user_id
        if self.aai_uid is not None:
            out["aai_uid"] = self.aai_uid
        return out


@dataclass
class SessionLog:
    """What one session produced, each record with its time in seconds since the epoch."""

    actions: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    recommendations: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    orders: list[tuple[float, int]] = field(default_factory=list)  # (time, service row)


def iso(seconds: float) -> str:
    """An ISO-8601 UTC time with milliseconds, as the portal sends them."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class VisitIds:
    """Fresh page-visit ids in the UUID-4 layout the portal uses, from their own random stream.

    Ids are drawn in blocks: one id at a time was a visible share of the run time.
    """

    BLOCK = 4096

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.hex = ""
        self.next = self.BLOCK

    def __call__(self) -> str:
        if self.next == self.BLOCK:
            self.hex = self.rng.bytes(16 * self.BLOCK).hex()
            self.next = 0
        h = self.hex[32 * self.next : 32 * self.next + 32]
        self.next += 1
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def _dwell(rng: np.random.Generator, median: float) -> float:
    """Seconds spent on a page: log-normal around a median, at least one second."""
    return max(1.0, median * float(np.exp(rng.normal(0, 0.7))))


class Journeys:
    """Simulates sessions against one catalogue, one choice model and one logging policy."""

    def __init__(
        self,
        catalogue: Catalogue,
        behaviour: BehaviourModel,
        search: SearchIndex,
        policy: LoggingPolicy,
        graph: PageGraph,
        params: JourneyParams,
    ) -> None:
        self.catalogue = catalogue
        self.behaviour = behaviour
        self.search = search
        self.policy = policy
        self.graph = graph
        self.params = params
        self.distance = graph.distance_to_order()
        self.names = [r["name"] for r in catalogue.records]
        self.related = [
            [s - 1 for s in r["related_services"] if catalogue.recommendable[s - 1]]
            for r in catalogue.records
        ]
        self.interest_cdf = np.cumsum(behaviour.interests, axis=1)

    def session(
        self,
        rng: np.random.Generator,
        visit_ids: Callable[[], str],
        profile: int,
        identity: Identity,
        start: float,
        panel_id: str,
        owned: set[int],
        can_order: bool,
        project_for_order: Callable[[], int],
    ) -> SessionLog:
        """One visit to the portal; `owned` (service rows) grows with the session's orders."""
        log = SessionLog()
        cdf = self.interest_cdf[profile]
        cluster = min(int(np.searchsorted(cdf, rng.random() * cdf[-1], "right")), cdf.size - 1)
        t = start
        ids = self.catalogue.ids
        for search_number in range(self.params.max_searches):
            search, mask = self.search.draw(rng, cluster, refined=search_number > 0)
            catalogue_visit = visit_ids()
            served = self.policy.serve(rng, mask, PANEL_SIZES[panel_id])
            if served.size:
                log.recommendations.append(
                    (
                        t,
                        {
                            "request": {
                                **identity.fields(),
                                "timestamp": iso(t),
                                "visit_id": catalogue_visit,
                                "page_id": CATALOGUE,
                                "panel_id": panel_id,
                                "client_id": CLIENT_ID,
                                "search_data": search,
                            },
                            "served": ids[served].tolist(),
                            "engine": self.policy.name,
                        },
                    )
                )
            results = self.search.results(search, mask, RESULTS_PER_PAGE)
            clicks = self._clicks(rng, profile, served, results, owned, can_order)
            t += _dwell(rng, 20.0)
            for row, ordered, interest, from_panel in clicks:
                root = self._root(rng, int(ids[row]), panel_id if from_panel else None)
                t = self._journey(
                    rng,
                    visit_ids,
                    log,
                    identity,
                    t,
                    catalogue_visit,
                    row,
                    ordered,
                    interest,
                    root,
                    project_for_order,
                )
                if ordered:
                    owned.add(row)
                t += _dwell(rng, 8.0)
            if rng.random() >= self.params.refine_share:
                break
            t += _dwell(rng, 15.0)
        return log

    def _clicks(
        self,
        rng: np.random.Generator,
        profile: int,
        served: IntArray,
        results: IntArray,
        owned: set[int],
        can_order: bool,
    ) -> list[tuple[int, bool, float, bool]]:
        """(row, ordered, P(order), from panel) of each click: panel first, then results."""
        ids = self.catalogue.ids
        picks: list[tuple[int, bool, float, bool]] = []
        clicked: set[int] = set()
        placements: tuple[tuple[IntArray, Placement], ...] = ((served, "panel"), (results, "list"))
        for rows, placement in placements:
            if rows.size == 0:
                continue
            response: Response = self.behaviour.respond(
                profile,
                ids[rows],
                rng,
                placement=placement,
                owned=[int(r) in owned for r in rows],
                can_order=can_order,
            )
            for position in np.flatnonzero(response.clicked).tolist():
                row = int(rows[position])
                if row not in clicked:
                    clicked.add(row)
                    picks.append(
                        (
                            row,
                            bool(response.ordered[position]),
                            # The visitor's own wish for it, even where it cannot order now.
                            float(self.behaviour.order_given_click(response.affinity[position])),
                            placement == "panel",
                        )
                    )
        return picks[: self.params.max_clicks]

    def _root(
        self, rng: np.random.Generator, service_id: int, panel_id: str | None
    ) -> dict[str, Any]:
        root: dict[str, Any] = {"type": "recommendation_panel" if panel_id else "other"}
        if panel_id:
            root["panel_id"] = panel_id
        if rng.random() < self.params.new_root_form_share:
            root["resource_type"] = "service"
            root["resource_id"] = service_id
        else:
            root["service_id"] = service_id
        return root

    def _journey(
        self,
        rng: np.random.Generator,
        visit_ids: Callable[[], str],
        log: SessionLog,
        identity: Identity,
        t: float,
        catalogue_visit: str,
        row: int,
        will_order: bool,
        interest: float,
        root: dict[str, Any],
        project_for_order: Callable[[], int],
    ) -> float:
        """Walk from a click on the catalogue page until the visitor leaves or orders.

        `interest` is the visitor's order probability for the service: it shapes the walk of
        a journey that does not order, so page moves carry signal beyond orders.
        """
        ids = self.catalogue.ids
        base = identity.fields()

        def emit(
            time: float,
            source: tuple[str, str],
            target: tuple[str, str],
            action: tuple[str, str],
            order: bool = False,
        ) -> None:
            log.actions.append(
                (
                    time,
                    {
                        **base,
                        "timestamp": iso(time),
                        "client_id": CLIENT_ID,
                        "source": {"visit_id": source[0], "page_id": source[1], "root": dict(root)},
                        "target": {"visit_id": target[0], "page_id": target[1]},
                        "action": {"type": action[0], "text": action[1], "order": order},
                    },
                )
            )

        t += _dwell(rng, 10.0)
        page, service = SERVICE, row
        visit = (visit_ids(), concrete(SERVICE, int(ids[row])))
        emit(t, (catalogue_visit, CATALOGUE), visit, ("link", self.names[row]))
        for step in range(1, 40):
            t += _dwell(rng, 25.0)
            if will_order:
                target = self._toward_order(rng, page, step)
            else:
                # Leaving gets likelier with every page and less likely the more the visitor
                # wants the service, who then also looks at offers and configurations more.
                leave = self.params.exit_share * (1.5 - interest) + 0.07 * step
                if rng.random() < min(0.9, leave):
                    break
                target = self._wander(rng, page, interest)
            if rng.random() < self.params.branch_share:
                tab = self._wander(rng, page, interest)
                tab_visit = (visit_ids(), self._page_id(tab, service))
                emit(t, visit, tab_visit, PAGE_ACTIONS[tab])
                t += _dwell(rng, 5.0)
            if target == ORDER:
                project = project_for_order()
                emit(t, visit, (visit_ids(), f"/projects/{project}"), PAGE_ACTIONS[ORDER], True)
                log.orders.append((t, row))
                return t
            action = PAGE_ACTIONS[target]
            if (
                target == SERVICE
                and not will_order
                and self.related[service]
                and (page == COMPARISONS or rng.random() < self.params.related_share)
            ):
                service = self.related[service][int(rng.integers(len(self.related[service])))]
                action = ("link", self.names[service])
            next_visit = (visit_ids(), self._page_id(target, service))
            emit(t, visit, next_visit, action)
            page, visit = target, next_visit
        return t

    def _page_id(self, page: str, service_row: int) -> str:
        return page if page == COMPARISONS else concrete(page, int(self.catalogue.ids[service_row]))

    def _toward_order(self, rng: np.random.Generator, page: str, step: int) -> str:
        moves = self.graph.moves[page]
        closer = [m for m in moves if self.distance.get(m, 99) < self.distance[page]]
        # Detours (reading reviews, comparing) first; after a dozen pages, straight to the order.
        if step < 12 and rng.random() >= self.params.progress_share:
            detours = [m for m in moves if m != ORDER]
            return detours[int(rng.integers(len(detours)))]
        return closer[int(rng.integers(len(closer)))]

    def _wander(self, rng: np.random.Generator, page: str, interest: float) -> str:
        moves = [m for m in self.graph.moves[page] if m != ORDER and m != page]
        weights = np.array([1.0 + 4.0 * interest * (m in _FUNNEL) for m in moves])
        cumulative = np.cumsum(weights)
        return moves[int(np.searchsorted(cumulative, rng.random() * cumulative[-1], "right"))]
