"""An experiment's logged impressions as off-policy estimates read them: who saw which panel
under which arm with what propensity, in what context, and which of its services were clicked."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from recommender.contract.recommendations import DEFAULT_PANEL, PANEL_SIZES
from recommender.experiments.assignment import visitor_key
from recommender.store.schema import Recommendation, UserAction

# The engine whose panels are a uniform shuffle of the allowed services: its impressions are
# the ones another engine's panel can be replayed against.
UNIFORM_ENGINE = "random"
PANEL_ROOT = "recommendation_panel"


@dataclass(frozen=True)
class LoggedImpression:
    id: int
    visitor: str
    arm: str
    engine: str
    # The arm's share of the experiment's weights: the chance the logging policy picked it.
    propensity: float
    panel_size: int
    shown: tuple[int, ...]
    # Services clicked from this panel (actions linked to it whose journey's root is it).
    clicked: frozenset[int] = frozenset()
    # Whether any such action exists: the experiment report's definition of a clicked panel.
    any_click: bool = False
    user_id: int | None = None
    # For random-arm impressions: `allowed` services and the query (see `Recommendation`).
    context: dict[str, Any] | None = None

    @property
    def allowed(self) -> tuple[int, ...] | None:
        if self.context is None or "allowed" not in self.context:
            return None
        return tuple(int(i) for i in self.context["allowed"])


def read(conn: Connection, experiment_id: int) -> list[LoggedImpression]:
    """Every impression of the experiment, oldest first, with the services clicked from it."""
    table = Recommendation
    clicked: dict[int, set[int]] = defaultdict(set)
    any_click: set[int] = set()
    actions = conn.execute(
        select(UserAction.recommendation_id, UserAction.service_id)
        .join(table, table.id == UserAction.recommendation_id)
        .where(table.experiment_id == experiment_id, UserAction.root_type == PANEL_ROOT)
    )
    for recommendation_id, service_id in actions:
        if recommendation_id is None:  # the join rules it out; the column type does not
            continue
        any_click.add(int(recommendation_id))
        if service_id is not None:
            clicked[int(recommendation_id)].add(int(service_id))
    rows = conn.execute(
        select(
            table.id,
            table.arm,
            table.engine,
            table.propensity,
            table.panel_id,
            table.service_ids,
            table.user_id,
            table.aai_uid,
            table.unique_id,
            table.context,
        )
        .where(table.experiment_id == experiment_id)
        .order_by(table.id)
    )
    return [
        LoggedImpression(
            id=int(row.id),
            visitor=visitor_key(row.user_id, row.aai_uid, row.unique_id),
            arm=str(row.arm),
            engine=str(row.engine),
            propensity=float(row.propensity),
            panel_size=PANEL_SIZES.get(row.panel_id, PANEL_SIZES[DEFAULT_PANEL]),
            shown=tuple(int(i) for i in row.service_ids),
            clicked=frozenset(clicked.get(int(row.id), ())),
            any_click=int(row.id) in any_click,
            user_id=row.user_id,
            context=row.context,
        )
        for row in rows
    ]
