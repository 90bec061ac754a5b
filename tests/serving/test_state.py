"""The serving state follows the store: popularity counts new orders at once, sessions hear of
actions other processes stored, experiments and pinned versions come and go."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from recommender.activity import actions
from recommender.activity.actions import ServiceAction
from recommender.catalog.loader import replace_catalog
from recommender.contract.user_actions import UserActionIn
from recommender.engines.popularity import PopularityModel
from recommender.serving.state import ServingStateHolder
from recommender.store.database import Database
from tests.factories import dump, service, user, user_action


def order(db: Database, user_id: int, service_id: int, at: str = "2026-12-01T10:00:00Z") -> None:
    body = user_action(
        user_id=user_id,
        timestamp=at,
        source={"visit_id": f"v-{user_id}-{service_id}", "page_id": f"/services/{service_id}"},
        target={"visit_id": f"w-{user_id}-{service_id}", "page_id": "/services/order"},
        action={"type": "button", "text": "Order", "order": True},
    )
    with db.write() as conn:
        actions.record(conn, UserActionIn.model_validate(body))


def count(holder: ServingStateHolder, service_id: int) -> float:
    """How many users popularity says use a service."""
    model = holder.current.models["popularity"].model
    assert isinstance(model, PopularityModel)
    return float(model.counts[np.searchsorted(model.item_ids, service_id)])


def test_popularity_counts_a_new_order_at_the_next_refresh(db: Database) -> None:
    with db.write() as conn:
        replace_catalog(
            conn,
            dump(
                [service(1), service(2), service(3)],
                [user(1, accessed_services=[1]), user(2, accessed_services=[1, 2])],
            ),
        )
    holder = ServingStateHolder(db, popularity_refit_s=3600)
    holder.refresh()
    assert (count(holder, 1), count(holder, 2), count(holder, 3)) == (2.0, 1.0, 0.0)
    order(db, 1, 3)
    assert holder.refresh()
    assert count(holder, 3) == 1.0
    # Ordering it again, or ordering what the dump says one uses, is no new user.
    order(db, 1, 3, at="2026-12-01T11:00:00Z")
    order(db, 2, 2)
    holder.refresh()
    assert (count(holder, 2), count(holder, 3)) == (1.0, 1.0)
    order(db, 2, 3)
    holder.refresh()
    assert count(holder, 3) == 2.0
    # The full recount agrees with what was followed one order at a time.
    recount = ServingStateHolder(db)
    assert [count(recount, s) for s in (1, 2, 3)] == [count(holder, s) for s in (1, 2, 3)]


def test_actions_stored_elsewhere_reach_the_listener_once(db: Database) -> None:
    with db.write() as conn:
        replace_catalog(conn, dump([service(1), service(2)], [user(1)]))
    heard: list[ServiceAction] = []

    def listen(new: Sequence[ServiceAction]) -> None:
        heard.extend(new)

    holder = ServingStateHolder(db, on_actions=listen)
    holder.refresh()
    order(db, 1, 2)
    holder.refresh()
    holder.refresh()
    assert [(a.user_id, a.service_id, a.ordered) for a in heard] == [(1, 2, True)]
