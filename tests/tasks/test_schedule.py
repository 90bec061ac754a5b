"""Scheduled retraining: when it is due, that it waits for a running training, and that the
embedded executor trains on its own after enough new actions."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from recommender.api.app import create_app
from recommender.catalog.loader import replace_catalog
from recommender.config import Settings
from recommender.runtime import Runtime
from recommender.store.database import Database
from recommender.store.schema import Task, UserAction
from recommender.tasks import records, schedule
from recommender.tasks.executor import wait_for
from recommender.tasks.schedule import Mark, reason_due
from tests.api.conftest import load_catalog, make_settings
from tests.factories import two_communities, user_action


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_nothing_is_due_when_the_schedule_is_off() -> None:
    assert reason_due(settings(), None, 10_000, time.time()) is None


def test_the_clock_is_due_at_once_then_after_each_interval() -> None:
    every_hour = settings(train_interval=3600)
    assert reason_due(every_hour, None, 0, 1000.0) is not None
    assert reason_due(every_hour, Mark(action_id=0, at=1000.0), 0, 4599.0) is None
    assert reason_due(every_hour, Mark(action_id=0, at=1000.0), 0, 4600.0) is not None


def test_the_count_is_due_once_enough_actions_arrived() -> None:
    after_five = settings(train_after_actions=5)
    assert reason_due(after_five, None, 4, 0.0) is None
    assert reason_due(after_five, Mark(action_id=9, at=0.0), 5, 0.0) == "5 new user actions"


def _post_actions(client: TestClient, n: int) -> None:
    for index in range(n):
        action = user_action(
            user_id=index + 1, target={"visit_id": f"t{index}", "page_id": f"/services/{index + 2}"}
        )
        assert client.post("/user_actions", json=action).status_code == 204


def _scheduled(db: Database) -> list[str]:
    with db.engine.connect() as conn:
        rows = conn.execute(select(Task.id, Task.args).where(Task.name == "train")).all()
    return [task_id for task_id, args in rows if args.get("trigger") == schedule.TRIGGER]


@contextmanager
def embedded_server(tmp_path: Path, **overrides: Any) -> Iterator[tuple[TestClient, Runtime]]:
    """The embedded server with a small catalogue loaded, and its runtime."""
    config = make_settings(f"sqlite:///{tmp_path / 's.db'}", tmp_path, **overrides)
    with TestClient(create_app(config)) as client:
        load_catalog(client, two_communities(n_services=16, n_users=80))
        yield client, client.app.state.runtime  # type: ignore[attr-defined]


def test_the_embedded_server_retrains_after_enough_actions_and_waits_while_busy(
    tmp_path: Path,
) -> None:
    with embedded_server(tmp_path, train_after_actions=3, train_engines="itemknn") as (
        client,
        runtime,
    ):
        _post_actions(client, 2)
        runtime.housekeeping()
        assert _scheduled(runtime.db) == []
        _post_actions(client, 1)
        runtime.housekeeping()
        (task_id,) = _scheduled(runtime.db)
        task = wait_for(runtime.db, task_id, timeout=120)
        assert task.state == "succeeded", task.error
        assert task.args["engines"] == ["itemknn"]
        runtime.serving.refresh()
        assert runtime.serving.served_versions() == {"itemknn": 1}
        # The count starts again from the training's start.
        runtime.housekeeping()
        assert len(_scheduled(runtime.db)) == 1


def test_a_queued_training_holds_the_schedule_back(db: Database) -> None:
    config = settings(database_url=db.url, train_interval=60, train_engines="itemknn")
    with db.write() as conn:
        replace_catalog(conn, two_communities())
        waiting = records.create(conn, "train", {"engine": None})
    submitted: list[dict[str, Any]] = []

    def submit(name: str, **args: Any) -> str:
        # What the executor would be handed; the job itself is not the point here.
        submitted.append({"name": name, **args})
        return "task-id"

    assert schedule.tick(db, config, submit, now=1000.0) == []
    with db.engine.connect() as conn:
        assert Mark.read(conn) is None
    with db.write() as conn:
        records.fail(conn, waiting, "done with it")
    assert schedule.tick(db, config, submit, now=1000.0) == ["task-id"]
    assert submitted == [{"name": "train", "engines": ["itemknn"], "trigger": "schedule"}]
    # Due again only after the interval.
    assert schedule.tick(db, config, submit, now=1059.0) == []
    assert schedule.tick(db, config, submit, now=1060.0) == ["task-id"]


def test_a_training_someone_asked_for_starts_the_count_again(tmp_path: Path) -> None:
    with embedded_server(tmp_path, train_after_actions=3, train_engines="itemknn") as (
        client,
        runtime,
    ):
        _post_actions(client, 3)
        # As the dashboard's "train" button asks for one engine.
        task_id = runtime.executor.submit("train", engine="itemknn")
        task = wait_for(runtime.db, task_id, timeout=120)
        assert task.state == "succeeded", task.error
        # The three actions were in that training: none is new to the schedule.
        runtime.housekeeping()
        assert _scheduled(runtime.db) == []
        _post_actions(client, 3)
        runtime.housekeeping()
        assert len(_scheduled(runtime.db)) == 1


def test_a_server_with_a_retention_window_deletes_old_actions_as_it_keeps_house(
    tmp_path: Path,
) -> None:
    with embedded_server(tmp_path, action_retention_days=30) as (client, runtime):
        old = user_action(user_id=1, timestamp="2020-01-01T00:00:00Z")
        assert client.post("/user_actions", json=old).status_code == 204
        _post_actions(client, 2)
        runtime.housekeeping()
        runtime.prune.wait(timeout=60)
        with runtime.db.engine.connect() as conn:
            kept = conn.scalars(select(UserAction.timestamp)).all()
    assert len(kept) == 2 and all(stamp.year > 2020 for stamp in kept)
