"""The whole job flow on a real Celery worker, and the faults it must survive."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from recommender.api.app import create_app
from recommender.config import Settings
from tests.api.conftest import SMALL_ENGINES
from tests.conftest import PostgresServer
from tests.factories import recommendation_request, two_communities, user_action
from tests.integration.conftest import Worker, redis_url

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]


@contextmanager
def api(env: dict[str, str]) -> Iterator[TestClient]:
    settings = Settings(
        _env_file=None,
        database_url=env["DATABASE_URL"],
        redis_url=env["REDIS_URL"],
        task_heartbeat_timeout_s=int(env["TASK_HEARTBEAT_TIMEOUT_S"]),
        refresh_interval_s=float(env["REFRESH_INTERVAL_S"]),
    )
    with TestClient(create_app(settings)) as client:
        yield client


def eventually(check: Callable[[], Any], timeout: float = 120, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def finished(client: TestClient, task_id: str, timeout: float = 180) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        task: dict[str, Any] = client.get(f"/tasks/{task_id}").json()
        return task if task["state"] in ("succeeded", "failed") else None

    result: dict[str, Any] = eventually(done, timeout, f"task {task_id}")
    return result


def active_version(client: TestClient, engine: str) -> int | None:
    engines = {e["name"]: e for e in client.get("/engines").json()["engines"]}
    version: int | None = engines[engine]["active_version"]
    return version


def test_dump_training_hot_swap_and_rollback_on_a_worker(stack: dict[str, Any]) -> None:
    with api(stack["env"]) as client:
        response = client.post("/database_dumps", json=two_communities(n_services=16, n_users=80))
        assert response.status_code == 204
        task = finished(client, response.headers["X-Task-Id"])
        assert task["state"] == "succeeded", task["error"]
        assert task["worker"] and task["worker"].split(":")[1] != str(__import__("os").getpid())
        eventually(lambda: client.get("/health").status_code == 200, 30, "a healthy service")
        assert client.get("/health").json()["components"]["worker"]["workers"]

        for expected in (1, 2):
            response = client.post("/training")
            assert finished(client, response.headers["X-Task-Id"])["state"] == "succeeded"
            # The API process picks the new version up by itself, without a restart.
            eventually(
                lambda v=expected: active_version(client, "ease") == v, 30, f"ease v{expected}"
            )
        answer = client.post(
            "/recommendations", json=recommendation_request(user_id=3, engine_version="ease")
        )
        assert answer.json()["engine_version"] == "ease"

        assert client.post("/models/ease/1/activate").status_code == 200
        eventually(lambda: active_version(client, "ease") == 1, 30, "the rollback")


def test_a_worker_killed_mid_training(stack: dict[str, Any]) -> None:
    worker: Worker = stack["worker"]
    with api(stack["env"]) as client:
        load = client.post("/database_dumps", json=two_communities(n_services=16, n_users=80))
        finished(client, load.headers["X-Task-Id"])
        first = client.post("/training")
        assert finished(client, first.headers["X-Task-Id"])["state"] == "succeeded"
        eventually(lambda: active_version(client, "bpr") == 1, 30, "bpr v1")

        runtime = client.app.state.runtime
        slow = runtime.executor.submit("train", engine="bpr", params={"epochs": 100_000})
        eventually(
            lambda: client.get(f"/tasks/{slow}").json()["state"] == "running", 60, "training to run"
        )
        worker.kill()

        # The job ends as failed once its heartbeat is overdue; it never stays "running".
        task = finished(client, slow, timeout=60)
        assert task["state"] == "failed" and "stopped responding" in task["error"]
        # The active model kept serving throughout.
        assert active_version(client, "bpr") == 1
        answer = client.post(
            "/recommendations", json=recommendation_request(user_id=3, engine_version="bpr")
        )
        assert answer.json()["engine_version"] == "bpr"

        worker.start()
        again = client.post("/training")
        assert finished(client, again.headers["X-Task-Id"])["state"] == "succeeded"
        # The killed run left no version behind; the next one is v2.
        eventually(lambda: active_version(client, "bpr") == 2, 30, "bpr v2")


def test_two_updates_never_interleave(stack: dict[str, Any]) -> None:
    second_worker = Worker(stack["env"], Path(stack["tmp"]) / "worker2.log")
    second_worker.start()
    try:
        with api(stack["env"]) as client:
            ids = [
                client.post("/update", json=two_communities(n_services=16, n_users=n)).headers[
                    "X-Task-Id"
                ]
                for n in (60, 80)
            ]
            tasks = [finished(client, task_id, timeout=300) for task_id in ids]
    finally:
        second_worker.stop()
    assert all(task["state"] == "succeeded" for task in tasks), [t["error"] for t in tasks]
    assert len({task["worker"] for task in tasks}) == 2, "each update ran on its own worker"
    spans = sorted(
        (
            datetime.fromisoformat(t["result"]["lock"]["from"]),
            datetime.fromisoformat(t["result"]["lock"]["until"]),
        )
        for t in tasks
    )
    assert spans[0][1] <= spans[1][0], "the two updates loaded their dumps at the same time"


def test_two_workers_train_two_engines_at_once(stack: dict[str, Any]) -> None:
    first: Worker = stack["worker"]
    second = Worker(stack["env"], Path(stack["tmp"]) / "worker2.log")
    second.start()
    try:
        with api(stack["env"]) as client:
            load = client.post("/database_dumps", json=two_communities(n_services=16, n_users=80))
            assert finished(client, load.headers["X-Task-Id"])["state"] == "succeeded"
            runtime = client.app.state.runtime  # type: ignore[attr-defined]
            # A training that does not end while the test runs holds one worker.
            slow = runtime.executor.submit("train", engine="bpr", params={"epochs": 100_000})
            eventually(
                lambda: client.get(f"/tasks/{slow}").json()["state"] == "running",
                60,
                "bpr's training to run",
            )
            quick = finished(client, runtime.executor.submit("train", engine="itemknn"))
            busy = client.get(f"/tasks/{slow}").json()
        assert quick["state"] == "succeeded", quick["error"]
        assert busy["state"] == "running", "itemknn waited for bpr's training to end"
        assert quick["worker"] != busy["worker"]
    finally:
        # The slow training would hold a stopping worker for its whole grace period.
        first.kill()
        second.kill()


def test_broker_down_keeps_serving_and_refuses_jobs_clearly(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "TASK_HEARTBEAT_TIMEOUT_S": "5",
        "REFRESH_INTERVAL_S": "0.5",
    }
    with api(env) as client:
        assert client.post("/recommendations", json=recommendation_request()).status_code == 200
        assert client.post("/user_actions", json=user_action()).status_code == 204
        for method, path, body in (
            ("post", "/database_dumps", two_communities()),
            ("post", "/update", two_communities()),
            ("post", "/training", None),
            ("get", "/training", None),
        ):
            response = getattr(client, method)(path, **({"json": body} if body else {}))
            assert response.status_code == 503, path
            assert "broker (Redis) is unreachable" in response.json()["message"]
            assert response.headers["Retry-After"]
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["components"]["worker"] == {
            "status": "down",
            "mode": "celery",
            "broker": "unreachable",
        }


def test_celery_beat_retrains_after_enough_new_actions(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": postgres_server.new_database(),
        "REDIS_URL": redis_url(),
        "TASK_HEARTBEAT_TIMEOUT_S": "5",
        "REFRESH_INTERVAL_S": "0.5",
        "LOG_LEVEL": "info",
        "ENGINE_PARAMS_FILE": str(SMALL_ENGINES),
        "TRAIN_AFTER_ACTIONS": "3",
        "TRAIN_ENGINES": "itemknn",
    }
    beat = Worker(
        env, tmp_path / "worker.log", ("--beat", "--schedule-file", str(tmp_path / "beat"))
    )
    beat.start()
    try:
        with api(env) as client:
            response = client.post("/database_dumps", json=two_communities(16, 80))
            assert finished(client, response.headers["X-Task-Id"])["state"] == "succeeded"

            def scheduled() -> list[dict[str, Any]]:
                tasks = client.get("/tasks", params={"limit": 50}).json()["tasks"]
                return [t for t in tasks if t["args"].get("trigger") == "schedule"]

            # The dump alone is no reason to train: nothing new happened yet.
            for index in range(3):
                action = user_action(
                    user_id=index + 1,
                    target={"visit_id": f"t{index}", "page_id": f"/services/{index + 2}"},
                )
                assert client.post("/user_actions", json=action).status_code == 204
            task = eventually(scheduled, 60, "a scheduled training")[0]
            assert task["args"]["engines"] == ["itemknn"]
            assert finished(client, task["id"])["state"] == "succeeded"
            eventually(lambda: active_version(client, "itemknn") == 1, 30, "itemknn v1")
            # Nothing new since: no second training.
            time.sleep(12)
            assert len(scheduled()) == 1
    finally:
        beat.stop()
