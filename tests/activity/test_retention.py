"""Retention deletes old impressions and actions, and keeps orders and running experiments'."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select, update

from recommender.activity import impressions, retention
from recommender.activity.actions import record
from recommender.contract.user_actions import UserActionIn
from recommender.experiments import records
from recommender.store.database import Database
from recommender.store.schema import Experiment, Recommendation, Transition, UserAction
from recommender.tasks import locks
from recommender.tasks.retention import LOCK, Pruner
from tests.factories import impression, user_action

NOW = datetime(2026, 12, 1, tzinfo=UTC)
MONTH = retention.Windows(impression_days=30, action_days=30)


def experiment(db: Database, status: str) -> int:
    """A running experiment, or one stopped the way the API stops it."""
    with db.write() as conn:
        new_id = int(
            conn.execute(
                insert(Experiment)
                .values(
                    name=f"exp-{status}",
                    status=records.RUNNING,
                    panels=["v1"],
                    arms=[{"name": "a", "engine": "popularity", "version": None, "weight": 1}],
                    min_effect=0.01,
                    alpha=0.05,
                    verdicts={},
                )
                .returning(Experiment.id)
            ).scalar_one()
        )
        if status != records.RUNNING:
            records.end(conn, new_id, status)
    return new_id


def shown(db: Database, days_ago: float, **fields: object) -> int:
    with db.write() as conn:
        (new_id,) = impressions.write_many(conn, [impression(**fields)])
        conn.execute(
            update(Recommendation)
            .where(Recommendation.id == new_id)
            .values(created_at=NOW - timedelta(days=days_ago))
        )
    return new_id


def acted(
    db: Database, days_ago: float, *, order: bool = False, impression_id: int | None = None
) -> int:
    body = user_action(
        timestamp=(NOW - timedelta(days=days_ago)).isoformat(),
        action={"type": "button", "text": "", "order": order},
    )
    if impression_id is not None:
        body["recommendation_id"] = impression_id
    with db.write() as conn:
        record(conn, UserActionIn.model_validate(body))
        return int(conn.scalar(select(func.max(UserAction.id))) or 0)


def ids(db: Database, table: type[Recommendation | UserAction]) -> set[int]:
    with db.snapshot() as conn:
        return set(conn.scalars(select(table.id)))


def test_rows_older_than_their_window_go_and_newer_ones_stay(db: Database) -> None:
    old_shown, new_shown = shown(db, 45), shown(db, 5)
    old_action, new_action = acted(db, 45), acted(db, 5)

    pruned = retention.prune(db, MONTH, NOW)

    assert pruned == retention.Pruned(impressions=1, actions=1)
    assert ids(db, Recommendation) == {new_shown}
    assert ids(db, UserAction) == {new_action}
    assert old_shown != new_shown and old_action != new_action


def test_orders_are_kept_whatever_their_age(db: Database) -> None:
    order, click = acted(db, 400, order=True), acted(db, 400)

    retention.prune(db, MONTH, NOW)

    assert ids(db, UserAction) == {order}
    assert click not in ids(db, UserAction)


def test_a_running_experiment_keeps_its_impressions_and_their_actions(db: Database) -> None:
    running, stopped = experiment(db, "running"), experiment(db, "stopped")
    kept = shown(db, 60, experiment_id=running, arm="a")
    gone = shown(db, 60, experiment_id=stopped, arm="a")
    kept_click = acted(db, 60, impression_id=kept)
    gone_click = acted(db, 60, impression_id=gone)

    retention.prune(db, MONTH, NOW)

    assert ids(db, Recommendation) == {kept}
    assert ids(db, UserAction) == {kept_click}
    assert gone_click not in ids(db, UserAction)


def test_an_action_outlives_its_deleted_impression_unlinked(db: Database) -> None:
    old = shown(db, 60)
    click = acted(db, 5, impression_id=old)
    with db.write() as conn:
        conn.execute(
            insert(Transition).values(
                impression_id=old,
                user_id=None,
                history=[],
                panel_labels=[{}, {}, {}],
                next_impression_id=None,
                next_history=[],
                done=True,
            )
        )

    retention.prune(db, MONTH, NOW)

    with db.snapshot() as conn:
        assert (
            conn.scalar(select(UserAction.recommendation_id).where(UserAction.id == click)) is None
        )
        assert conn.scalar(select(func.count()).select_from(Transition)) == 0


def test_many_rows_go_in_several_batches_and_a_zero_window_keeps_its_kind(db: Database) -> None:
    made = {shown(db, 90) for _ in range(7)}
    click = acted(db, 90)

    pruned = retention.prune(db, retention.Windows(impression_days=30), NOW, batch=3)

    assert pruned == retention.Pruned(impressions=7, actions=0)
    assert not ids(db, Recommendation) & made
    assert ids(db, UserAction) == {click}


def test_a_process_pruning_already_leaves_the_others_out(db: Database) -> None:
    shown(db, 10_000)  # older than any window, whatever today is
    assert locks.try_acquire(db, LOCK, "another process", lease_s=60)
    assert Pruner(MONTH, interval_s=0)(db) is None
    locks.release(db, LOCK, "another process")

    pruned = Pruner(MONTH, interval_s=0)(db)

    assert pruned == retention.Pruned(impressions=1, actions=0)


def test_a_process_prunes_again_only_once_its_interval_has_passed(db: Database) -> None:
    pruner = Pruner(MONTH, interval_s=3600)
    assert pruner(db) == retention.Pruned()
    shown(db, 10_000)

    assert pruner(db) is None
    assert len(ids(db, Recommendation)) == 1


def test_without_windows_nothing_is_pruned(db: Database) -> None:
    shown(db, 10_000)
    acted(db, 10_000)

    assert Pruner(retention.Windows(), interval_s=0)(db) is None
    assert len(ids(db, Recommendation)) == 1 and len(ids(db, UserAction)) == 1
