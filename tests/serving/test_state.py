"""The serving state follows the store: popularity counts new orders at once, sessions hear of
actions other processes stored, experiments and pinned versions come and go."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import update

from recommender.activity import actions
from recommender.activity.actions import ServiceAction
from recommender.activity.counts import count_and_store
from recommender.catalog.loader import replace_catalog
from recommender.contract.user_actions import UserActionIn
from recommender.engines.popularity import PopularityModel
from recommender.serving.state import ServingStateHolder
from recommender.store.database import Database
from recommender.store.schema import PopularityCount
from recommender.tasks.popularity import recount_if_due
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


def test_a_process_reads_the_stored_counts_and_adds_the_orders_after_them(db: Database) -> None:
    with db.write() as conn:
        replace_catalog(
            conn,
            dump(
                [service(1), service(2), service(3)],
                [user(1, accessed_services=[1]), user(2, accessed_services=[1, 2])],
            ),
        )
        count_and_store(conn)
        # What the process reads is what is stored, not a count of its own.
        conn.execute(update(PopularityCount).where(PopularityCount.service_id == 2).values(users=7))
    order(db, 1, 3)
    order(db, 2, 3)
    order(db, 1, 1)  # the dump already says user 1 uses it
    holder = ServingStateHolder(db, popularity_refit_s=3600)
    assert [count(holder, s) for s in (1, 2, 3)] == [2.0, 7.0, 2.0]


def test_a_recount_reaches_running_processes(db: Database) -> None:
    with db.write() as conn:
        replace_catalog(conn, dump([service(1), service(2)], [user(1, accessed_services=[1])]))
        count_and_store(conn)
    holder = ServingStateHolder(db, popularity_refit_s=3600)
    model = holder.current.models["popularity"].model
    assert isinstance(model, PopularityModel) and model.n_users == 1
    # A visitor the dump does not know orders: followed at once as a use, but only a count of
    # the whole store learns that there is one more user.
    order(db, 9, 2)
    holder.refresh()
    assert count(holder, 2) == 1.0
    assert recount_if_due(db, refit_s=0) is not None
    assert holder.refresh()
    model = holder.current.models["popularity"].model
    assert isinstance(model, PopularityModel)
    assert (model.n_users, count(holder, 2)) == (2, 1.0)
