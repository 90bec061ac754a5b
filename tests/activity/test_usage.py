"""The usage matrix engines learn from, read from the store."""

from __future__ import annotations

from recommender.activity.actions import on_services, record
from recommender.activity.usage import build_interactions, first_uses
from recommender.catalog.loader import replace_catalog
from recommender.contract.user_actions import UserActionIn
from recommender.store.database import Database
from tests.factories import dump, service, user, user_action

LARGEST = 2**63 - 1


def act(db: Database, user_id: int, service_id: int, *, order: bool = False) -> None:
    body = user_action(
        user_id=user_id,
        source={"visit_id": f"s-{user_id}", "page_id": "/services"},
        target={"visit_id": f"t-{user_id}-{service_id}", "page_id": f"/services/{service_id}"},
        action={"type": "button", "text": "", "order": order},
    )
    with db.write() as conn:
        record(conn, UserActionIn.model_validate(body))


def test_the_largest_ids_survive_the_trip_to_the_matrix(db: Database) -> None:
    with db.write() as conn:
        replace_catalog(
            conn, dump([service(1), service(LARGEST)], [user(LARGEST, accessed_services=[LARGEST])])
        )
    act(db, LARGEST - 1, LARGEST)
    with db.engine.connect() as conn:
        data = build_interactions(conn)
    assert data.user_ids.tolist() == [LARGEST - 1, LARGEST]
    assert data.item_ids.tolist() == [1, LARGEST]
    assert data.matrix.toarray().tolist() == [[0.0, 0.5], [0.0, 1.0]]


def test_only_a_user_s_first_order_of_a_service_is_a_first_use(db: Database) -> None:
    with db.write() as conn:
        replace_catalog(conn, dump([service(1), service(2)], [user(1, accessed_services=[1])]))
    act(db, 1, 1, order=True)  # the dump already says user 1 uses service 1
    act(db, 1, 2, order=True)
    act(db, 1, 2, order=True)
    act(db, 1, 2)  # a click is not a use
    with db.engine.connect() as conn:
        found = first_uses(conn, on_services(conn, 0, 10))
    assert [(a.user_id, a.service_id) for a in found] == [(1, 2)]
