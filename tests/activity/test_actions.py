"""A group of actions stored at once is linked exactly as the same actions stored one by one."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import delete, func, insert, select

from recommender.activity import actions, impressions
from recommender.contract.user_actions import UserActionIn
from recommender.store.database import Database
from recommender.store.schema import User, UserAction
from tests.factories import impression, user_action

COMPARED = ("target_visit_id", "recommendation_id", "user_id", "service_id", "message_digest")


def step(target: str, source: str | None, root: dict[str, Any] | None, **fields: Any) -> Any:
    body = user_action(
        source={"visit_id": source, "page_id": "/services", "root": root},
        target={"visit_id": target, "page_id": "/services/2"},
        **fields,
    )
    return UserActionIn.model_validate(body)


def panel(panel_id: str | None = "v1") -> dict[str, Any]:
    return {"type": "recommendation_panel", "panel_id": panel_id, "service_id": 2}


def stored(db: Database, after: int) -> list[tuple[Any, ...]]:
    columns = [getattr(UserAction, name) for name in COMPARED]
    with db.engine.connect() as conn:
        query = select(*columns).where(UserAction.id > after).order_by(UserAction.id)
        return [tuple(row) for row in conn.execute(query)]


def test_a_group_is_linked_as_the_same_actions_one_by_one(db: Database) -> None:
    with db.write() as conn:
        on_v1, on_v2 = impressions.write_many(
            conn,
            [impression(visit_id="p1", panel_id="v1"), impression(visit_id="p1", panel_id="v2")],
        )
        elsewhere = impressions.write(conn, impression(visit_id="p2", engine="ncf"))
        conn.execute(insert(User).values(id=77, aai_uid="someone@aai.example.org"))
        # Stored before the group: the page visit q0 was reached from the panel on p2.
        before = actions.record(conn, step("q0", "p2", panel())).id
    group = [
        step("t1", None, panel(), recommendation_id=on_v2),  # names its impression
        step("t2", None, panel(), recommendation_id=999_999),  # names none that exists
        step("t3", "p1", panel("v1")),  # an old-style click on the v1 panel of p1
        step("t4", "p1", panel(None)),  # no panel named: the latest impression of p1
        step("t5", "t3", panel()),  # a later step: the chain through this group's t3
        step("t6", "q0", panel()),  # a later step: the chain through the stored q0
        step("t7", "t5", panel()),  # two steps down this group's chain
        step("t8", "t3", None),  # no root: linked to nothing
        step("t9", "t3", {"type": "other"}),  # a root that is no panel: nothing either
        step("t10", "t2", panel()),  # the chain of an action that lost its link
        step("t5", "t1", None),  # t5 reached again, later, by an unlinked action
        step("t11", "t5", panel()),  # ... which the chain now follows
        step("t12", "x", panel(), aai_uid="someone@aai.example.org"),  # a user by AAI id
    ]
    expected = [on_v2, None, on_v1, on_v2, on_v1, elsewhere, on_v1, None, None, None, None, None]
    digests = [f"{n:064d}" for n in range(len(group))]

    with db.write() as conn:
        one_by_one = [
            actions.record(conn, action, message_digest=digest)
            for action, digest in zip(group, digests, strict=True)
        ]
    singly = stored(db, before)
    with db.write() as conn:
        conn.execute(delete(UserAction).where(UserAction.id > before))
    with db.write() as conn:
        actions.store_many(conn, group, digests=digests)
    grouped = stored(db, before)

    assert grouped == singly
    assert [row[1] for row in grouped] == [*expected, None]
    assert grouped[-1][2] == 77 and grouped[0][3] == 2 and grouped[0][4] == digests[0]
    # What the HTTP path reports of each: clicks on the panel itself, and who served them.
    assert [r.panel_click for r in one_by_one[:7]] == [True, False, True, True, False, False, False]
    assert one_by_one[5].engine == "ncf" and one_by_one[0].engine == "popularity"


def test_a_batch_recorded_together_returns_what_each_record_would(db: Database) -> None:
    with db.write() as conn:
        shown = impressions.write(conn, impression(visit_id="p1", panel_id="v1", engine="ncf"))
        conn.execute(insert(User).values(id=78, aai_uid="known@aai.example.org"))
    group = [
        step("t1", "p1", panel("v1")),  # a click on the panel
        step("t2", "t1", panel()),  # a later step of its journey, in the same batch
        step("t3", "x", None, aai_uid="known@aai.example.org", user_id=None),
        step("t4", "t2", panel(), aai_uid="known@aai.example.org", user_id=None),
    ]
    # The last two came after a new catalogue: their AAI index is another object.
    old_index: dict[str, int] = {}
    new_index = {"known@aai.example.org": 78}
    indexes = [old_index, old_index, new_index, new_index]

    with db.write() as conn:
        after = int(conn.execute(select(func.coalesce(func.max(UserAction.id), 0))).scalar_one())
        singly = [
            actions.record(conn, action, index)
            for action, index in zip(group, indexes, strict=True)
        ]
    rows_singly = stored(db, after)
    with db.write() as conn:
        conn.execute(delete(UserAction).where(UserAction.id > after))
    with db.write() as conn:
        together = actions.record_many(conn, list(zip(group, indexes, strict=True)))

    assert stored(db, after) == rows_singly
    assert [r.id for r in together] == sorted(r.id for r in together)
    assert [r.id for r in together] == [row for (row,) in ids_after(db, after)]
    assert [replace(r, id=0, service_action=None) for r in together] == [
        replace(r, id=0, service_action=None) for r in singly
    ]
    assert [r.recommendation_id for r in together] == [shown, shown, None, shown]
    assert [r.panel_click for r in together] == [True, False, False, False]
    assert [r.service_action.user_id if r.service_action else None for r in together] == [
        None,
        None,
        78,
        78,
    ]


def ids_after(db: Database, after: int) -> list[tuple[int]]:
    with db.engine.connect() as conn:
        query = select(UserAction.id).where(UserAction.id > after).order_by(UserAction.id)
        return [(int(i),) for (i,) in conn.execute(query)]


def test_an_empty_group_stores_nothing(db: Database) -> None:
    with db.write() as conn:
        actions.store_many(conn, [])
    assert stored(db, 0) == []
