"""A/B experiments through the HTTP API: definitions, assignment, attribution, stop, promote."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from recommender.store.schema import Experiment, Recommendation
from recommender.tasks.executor import wait_for
from tests.api.conftest import load_catalog, runtime_of
from tests.factories import recommendation_request, two_communities, user_action


def arms(*specs: tuple[str, str, float]) -> list[dict[str, Any]]:
    return [{"name": n, "engine": e, "weight": w} for n, e, w in specs]


def definition(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "popularity-vs-random",
        "panels": ["v1"],
        "arms": arms(("control", "popularity", 1.0), ("random", "random", 1.0)),
    }
    body.update(fields)
    return body


def start(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/experiments", json=definition(**fields))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def panel(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/recommendations", json=recommendation_request(**fields))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def metric(client: TestClient, name: str, experiment: int, arm: str) -> float:
    wanted = f'{name}{{arm="{arm}",experiment="{experiment}"}} '
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(wanted):
            return float(line.removeprefix(wanted))
    return 0.0


def test_visitors_are_split_stickily_and_every_impression_records_its_arm(
    api: TestClient,
) -> None:
    load_catalog(api, two_communities())
    experiment = start(api)
    assert experiment["status"] == "running" and experiment["panels"] == ["v1"]
    seen: dict[str, str] = {}
    for i in range(40):
        browser = f"browser-{i}"
        answer = panel(api, unique_id=browser)
        assert answer["experiment"] == "popularity-vs-random"
        assert answer["engine_version"] == (
            "popularity" if answer["arm"] == "control" else "random"
        )
        seen[browser] = answer["arm"]
        assert panel(api, unique_id=browser)["arm"] == answer["arm"]
    assert set(seen.values()) == {"control", "random"}
    # v2 is not covered, and a request naming its engine stays outside.
    assert panel(api, panel_id="v2")["arm"] is None
    outside = panel(api, unique_id="browser-0", engine_version="popularity")
    assert outside["experiment"] is None and outside["arm"] is None
    with runtime_of(api).db.engine.connect() as conn:
        rows = conn.execute(
            select(Recommendation.arm, Recommendation.propensity).where(
                Recommendation.experiment_id == experiment["id"]
            )
        ).all()
    assert len(rows) == 80
    assert {arm for arm, _ in rows} == {"control", "random"}
    assert {propensity for _, propensity in rows} == {0.5}


def test_the_report_counts_exactly_the_clicks_and_orders_that_were_sent(api: TestClient) -> None:
    load_catalog(api, two_communities())
    experiment = start(api)
    clicks_before = metric(api, "recommender_experiment_clicks_total", experiment["id"], "control")
    sent = {"control": [0, 0, 0], "random": [0, 0, 0]}  # impressions, clicked, ordered
    for i in range(30):
        answer = panel(api, unique_id=f"b-{i}", user_id=i + 1, visit_id=f"visit-{i}")
        counts = sent[answer["arm"]]
        counts[0] += 1
        if i % 3 == 0:
            continue
        first = answer["recommendations"][0]
        click = user_action(
            unique_id=f"b-{i}",
            user_id=i + 1,
            source={
                "visit_id": f"visit-{i}",
                "page_id": "/services",
                "root": {"type": "recommendation_panel", "panel_id": "v1", "service_id": first},
            },
            target={"visit_id": f"visit-{i}-a", "page_id": f"/services/{first}"},
        )
        assert api.post("/user_actions", json=click).status_code == 204
        counts[1] += 1
        if i % 3 == 1:
            order = user_action(
                unique_id=f"b-{i}",
                user_id=i + 1,
                source={
                    "visit_id": f"visit-{i}-a",
                    "page_id": f"/services/{first}/offers",
                    "root": {"type": "recommendation_panel", "panel_id": "v1", "service_id": first},
                },
                target={"visit_id": f"visit-{i}-b", "page_id": f"/services/{first}/summary"},
                action={"type": "button", "text": "Order", "order": True},
            )
            assert api.post("/user_actions", json=order).status_code == 204
            counts[2] += 1
    report = api.get(f"/experiments/{experiment['id']}").json()
    by_arm = {arm["name"]: arm for arm in report["arms"]}
    for name, (impressions, clicked, ordered) in sent.items():
        arm = by_arm[name]
        assert (arm["impressions"], arm["clicks"], arm["orders"]) == (impressions, clicked, ordered)
        assert arm["visitors"] == impressions  # one panel per visitor here
        assert arm["ctr"]["value"] == pytest.approx(clicked / impressions)
        assert arm["ctr"]["low"] <= arm["ctr"]["value"] <= arm["ctr"]["high"]
    assert by_arm["control"]["ctr_difference"] is None
    difference = by_arm["random"]["ctr_difference"]
    assert difference["value"] == pytest.approx(
        by_arm["random"]["ctr"]["value"] - by_arm["control"]["ctr"]["value"]
    )
    assert "mSPRT" in report["method"]
    assert {day["arm"] for day in report["days"]} == {"control", "random"}
    counted = metric(api, "recommender_experiment_clicks_total", experiment["id"], "control")
    # Counters live as long as the process: this test's clicks are the increase.
    assert counted - clicks_before == sent["control"][1]


def test_a_stopped_experiment_assigns_nobody(api: TestClient) -> None:
    load_catalog(api, two_communities())
    experiment = start(api)
    stopped = api.post(f"/experiments/{experiment['id']}/stop")
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    for i in range(10):
        answer = panel(api, unique_id=f"b-{i}")
        assert answer["experiment"] is None and answer["arm"] is None
    assert api.post(f"/experiments/{experiment['id']}/stop").status_code == 409
    # Its panel is free again.
    assert start(api, name="second")["status"] == "running"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"arms": arms(("a", "popularity", 1.0), ("b", "gpt", 1.0))}, "arms.1.engine"),
        ({"arms": arms(("a", "popularity", 1.0), ("b", "random", 0.0))}, "arms.1.weight"),
        ({"arms": arms(("a", "popularity", 1.0), ("b", "random", -2.0))}, "arms.1.weight"),
        ({"arms": arms(("a", "popularity", 1.0), ("a", "random", 1.0))}, "arms.1.name"),
        ({"arms": arms(("a", "popularity", 1.0))}, "arms"),
        ({"panels": ["v3"]}, "panels.0"),
        (
            {
                "arms": [
                    {"name": "a", "engine": "popularity", "weight": 1},
                    {"name": "b", "engine": "ease", "version": 7, "weight": 1},
                ]
            },
            "arms.1.version",
        ),
    ],
)
def test_bad_definitions_are_a_400_naming_the_field_and_change_nothing(
    client: TestClient, change: dict[str, Any], field: str
) -> None:
    response = client.post("/experiments", json=definition(**change))
    assert response.status_code == 400, response.text
    assert field in response.json()["errors"], response.json()
    assert client.get("/experiments").json()["count"] == 0


def test_a_second_running_experiment_on_a_panel_is_refused(client: TestClient) -> None:
    start(client)
    response = client.post("/experiments", json=definition(name="other", panels=["v2", "v1"]))
    assert response.status_code == 400
    assert "panels" in response.json()["errors"]
    assert client.get("/experiments").json()["count"] == 1
    duplicate = client.post("/experiments", json=definition(panels=["v2"]))
    assert duplicate.status_code == 400 and "name" in duplicate.json()["errors"]


def test_promoting_an_arm_makes_its_engine_and_version_the_default(client: TestClient) -> None:
    load_catalog(client, two_communities(n_services=16, n_users=80))
    runtime = runtime_of(client)
    for _ in range(2):
        task = wait_for(runtime.db, runtime.executor.submit("train", engine="itemknn"), 120)
        assert task.state == "succeeded", task.error
    runtime.serving.refresh()
    versions = {v["version"]: v["status"] for v in client.get("/models/itemknn").json()["versions"]}
    assert versions == {1: "retired", 2: "active"}
    experiment = start(
        client,
        arms=[
            {"name": "control", "engine": "popularity", "weight": 1},
            {"name": "first", "engine": "itemknn", "version": 1, "weight": 1},
        ],
    )
    in_first = next(
        answer
        for answer in (panel(client, unique_id=f"b-{i}", user_id=i + 1) for i in range(40))
        if answer["arm"] == "first"
    )
    assert in_first["engine_version"] == "itemknn"
    with runtime.db.engine.connect() as conn:
        served = conn.execute(
            select(Recommendation.model_version).where(
                Recommendation.id == in_first["recommendation_id"]
            )
        ).scalar_one()
    assert served == 1  # the pinned version, not the active one

    unknown = client.post(f"/experiments/{experiment['id']}/promote/nobody")
    assert unknown.status_code == 400 and "arm" in unknown.json()["errors"]
    assert client.get("/engines").json()["default"] != "itemknn"

    promoted = client.post(f"/experiments/{experiment['id']}/promote/first")
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["status"] == "promoted" and promoted.json()["promoted_arm"] == "first"
    assert client.get("/engines").json()["default"] == "itemknn"
    versions = {v["version"]: v["status"] for v in client.get("/models/itemknn").json()["versions"]}
    assert versions == {1: "active", 2: "retired"}
    answer = panel(client, unique_id="b-1", user_id=1)
    assert answer["engine_version"] == "itemknn" and answer["arm"] is None
    with runtime.db.engine.connect() as conn:
        running = conn.execute(
            select(func.count()).select_from(Experiment).where(Experiment.status == "running")
        ).scalar_one()
    assert running == 0


def test_an_unknown_experiment_is_a_404(client: TestClient) -> None:
    assert client.get("/experiments/999").status_code == 404
    assert client.post("/experiments/999/stop").status_code == 404
    assert client.post("/experiments/999/promote/a").status_code == 404


def test_random_arm_impressions_keep_what_they_drew_from_and_the_query(api: TestClient) -> None:
    marketplace = two_communities()
    used = {u["id"]: u["accessed_services"] for u in marketplace["users"]}
    load_catalog(api, marketplace)
    experiment = start(api)
    candidates = [1, 2, 3, 7, 8, 9, 10]
    for user_id in range(1, 21):
        panel(api, unique_id=f"ctx-{user_id}", user_id=user_id, candidates=candidates)
    with runtime_of(api).db.engine.connect() as conn:
        rows = conn.execute(
            select(
                Recommendation.user_id,
                Recommendation.arm,
                Recommendation.candidate_count,
                Recommendation.context,
            ).where(Recommendation.experiment_id == experiment["id"])
        ).all()
    assert {arm for _, arm, _, _ in rows} == {"control", "random"}
    for user_id, arm, count, context in rows:
        if arm == "control":
            assert context is None
            continue
        # What the user already uses is never shown, so never drawn from.
        assert context["allowed"] == sorted(set(candidates) - set(used[user_id]))
        assert count == len(context["allowed"])
        assert context["history"] == used[user_id]
        assert context["scientific_domains"] and context["categories"]
