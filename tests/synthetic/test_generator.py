"""The generator's output is valid for the API's own schemas and tells consistent stories."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson

from recommender.activity.pages import CATALOGUE, ORDER, PageGraph, abstract
from recommender.catalog.dump import validate_dump
from recommender.contract.recommendations import PANEL_SIZES, RecommendationRequest
from recommender.contract.user_actions import UserActionIn
from recommender.synthetic import (
    OUTPUT_FILES,
    SynthConfig,
    SyntheticMarketplace,
    behaviour_from_ground_truth,
    generate,
    write,
)
from recommender.synthetic.vocabulary import load_vocabulary
from tests.synthetic.conftest import SMALL


def _root_service(action: dict[str, Any]) -> int:
    root = action["source"]["root"]
    return int(root["service_id"] if "service_id" in root else root["resource_id"])


def test_dump_is_valid_and_complete(market: SyntheticMarketplace) -> None:
    counts = validate_dump(market.dump)
    assert counts["services"] == SMALL.services
    assert counts["users"] == SMALL.users
    assert counts["projects"] == len(market.dump["projects"]) > 0
    assert counts["categories"] > 100 and counts["scientific_domains"] > 40
    statuses = Counter(s["status"] for s in market.dump["services"])
    assert statuses["published"] > 0.7 * SMALL.services
    assert {"unverified", "draft", "deleted"} <= set(statuses)


def test_real_services_come_first_with_their_real_names(market: SyntheticMarketplace) -> None:
    real = [s.name for s in load_vocabulary().services]
    names = [s["name"] for s in market.dump["services"]]
    assert names[: len(real)] == real
    # Variants are named after a real service.
    assert all(any(name.startswith(r) for r in real) for name in names[len(real) :])


def test_user_actions_are_valid(market: SyntheticMarketplace) -> None:
    assert len(market.user_actions) > 500
    for action in market.user_actions:
        UserActionIn.model_validate(action)


def test_served_panels_are_valid_requests(market: SyntheticMarketplace) -> None:
    recommendable = {
        s["id"] for s in market.dump["services"] if s["status"] in ("published", "unverified")
    }
    assert market.recommendations
    for record in market.recommendations:
        request = RecommendationRequest.model_validate(record["request"])
        assert request.page_id == CATALOGUE
        assert record["engine"].startswith("popularity-random")
        assert len(record["served"]) == PANEL_SIZES[request.panel_id or "v1"]
        assert len(set(record["served"])) == len(record["served"])
        assert set(record["served"]) <= recommendable
    panels = Counter(r["request"]["panel_id"] for r in market.recommendations)
    assert panels["v1"] > panels["v2"] > 0


def test_panel_clicks_link_to_the_panel_that_was_served(market: SyntheticMarketplace) -> None:
    served = {
        (r["request"]["visit_id"], r["request"]["panel_id"]): r for r in market.recommendations
    }
    first_clicks = [
        a
        for a in market.user_actions
        if a["source"]["page_id"] == CATALOGUE
        and a["source"]["root"]["type"] == "recommendation_panel"
    ]
    assert len(first_clicks) > 50
    for action in first_clicks:
        record = served[(action["source"]["visit_id"], action["source"]["root"]["panel_id"])]
        assert _root_service(action) in record["served"]
        assert action["target"]["page_id"] == f"/services/{_root_service(action)}"
        assert action["timestamp"] > record["request"]["timestamp"]
        for key in ("unique_id", "user_id", "aai_uid"):
            assert action.get(key) == record["request"].get(key)


def test_both_root_forms_and_catalogue_roots_are_emitted(market: SyntheticMarketplace) -> None:
    roots = [a["source"]["root"] for a in market.user_actions]
    panel = [r for r in roots if r["type"] == "recommendation_panel"]
    assert any("service_id" in r for r in panel)
    assert any(r.get("resource_type") == "service" and "resource_id" in r for r in panel)
    assert any(r["type"] == "other" for r in roots)


def test_visit_ids_chain_into_trees(market: SyntheticMarketplace) -> None:
    catalogue_visits = {r["request"]["visit_id"] for r in market.recommendations}
    targets: dict[str, dict[str, Any]] = {}
    for action in market.user_actions:
        visit = action["target"]["visit_id"]
        assert visit not in targets, "a page visit is reached by one action only"
        targets[visit] = action
    children: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for action in market.user_actions:
        source = action["source"]["visit_id"]
        if action["source"]["page_id"] == CATALOGUE:
            # Roots: catalogue pages, which no action reaches.
            assert source in catalogue_visits and source not in targets
            continue
        parent = targets[source]
        assert parent["target"]["page_id"] == action["source"]["page_id"]
        assert parent["timestamp"] <= action["timestamp"], "time runs forward along a journey"
        assert parent["source"]["root"] == action["source"]["root"], "a journey keeps its root"
        assert parent["unique_id"] == action["unique_id"]
        children[source].append(action)
    # Tabs: some page visits lead to two pages.
    assert any(len(kids) > 1 for kids in children.values())


def test_page_moves_follow_the_portal_graph(market: SyntheticMarketplace) -> None:
    graph = PageGraph.from_fixture(load_vocabulary().page_graph)
    moves: Counter[tuple[str, str]] = Counter()
    for action in market.user_actions:
        source = abstract(action["source"]["page_id"])
        target = ORDER if action["action"]["order"] else abstract(action["target"]["page_id"])
        assert graph.allowed(source, target), (source, target)
        moves[source, target] += 1
    assert moves["/services/{id}/summary", ORDER] > 0
    assert len(moves) > 15


def test_orders_are_placed_by_users_who_then_use_the_service(
    market: SyntheticMarketplace,
) -> None:
    users = {u["id"]: u for u in market.dump["users"]}
    by_aai = {u["aai_uid"]: u for u in market.dump["users"] if u.get("aai_uid")}
    cold = set(market.ground_truth["users"]["cold_start"])
    orders = [a for a in market.user_actions if a["action"]["order"]]
    assert len(orders) > 20
    for action in orders:
        user = users[action["user_id"]] if "user_id" in action else by_aai[action["aai_uid"]]
        assert user["id"] not in cold
        assert _root_service(action) in user["accessed_services"]
        assert action["source"]["page_id"].endswith("/summary")
        assert action["target"]["page_id"].startswith("/projects/")
    project_services = {s for p in market.dump["projects"] for s in p["services"]}
    assert {_root_service(a) for a in orders} <= project_services


def test_identities_of_sessions(market: SyntheticMarketplace) -> None:
    kinds = Counter(
        ("user" if "user_id" in a else "aai" if "aai_uid" in a else "anonymous")
        for a in market.user_actions
    )
    assert kinds["user"] > kinds["anonymous"] > 0
    assert kinds["aai"] > 0
    anonymous = [a for a in market.user_actions if "user_id" not in a and "aai_uid" not in a]
    assert not any(a["action"]["order"] for a in anonymous)


def test_cold_start_users_declare_interests_but_used_nothing(
    market: SyntheticMarketplace,
) -> None:
    cold = set(market.ground_truth["users"]["cold_start"])
    assert len(cold) == round(SMALL.cold_start_share * SMALL.users)
    for user in market.dump["users"]:
        if user["id"] in cold:
            assert user["accessed_services"] == []
            assert user["scientific_domains"] and user["categories"]
        else:
            assert user["accessed_services"]
            assert len(set(user["accessed_services"])) == len(user["accessed_services"])


def test_actions_and_panels_come_in_time_order(market: SyntheticMarketplace) -> None:
    for records in (market.user_actions, [r["request"] for r in market.recommendations]):
        times = [r["timestamp"] for r in records]
        assert times == sorted(times)
        assert times[0] >= SMALL.start.isoformat()


def test_same_seed_same_marketplace_other_seed_other_one() -> None:
    config = SynthConfig(services=70, users=60, days=2, seed=5, sessions_per_day=0.5)
    first, second = generate(config), generate(config)
    assert first.dump == second.dump
    assert first.user_actions == second.user_actions
    assert first.recommendations == second.recommendations
    assert first.ground_truth == second.ground_truth
    other = generate(config.model_copy(update={"seed": 6}))
    assert other.dump["users"] != first.dump["users"]
    assert other.user_actions != first.user_actions


def test_streamed_files_hold_the_same_marketplace(tmp_path: Path) -> None:
    config = SynthConfig(services=70, users=80, days=3, seed=2, sessions_per_day=0.5)
    counts = write(config, tmp_path)
    market = generate(config)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(OUTPUT_FILES)
    assert orjson.loads((tmp_path / "dump.json").read_bytes()) == market.dump
    assert orjson.loads((tmp_path / "ground_truth.json").read_bytes()) == market.ground_truth
    for name, records in (
        ("user_actions.jsonl", market.user_actions),
        ("recommendations.jsonl", market.recommendations),
    ):
        lines = (tmp_path / name).read_bytes().splitlines()
        assert [orjson.loads(line) for line in lines] == records
    assert counts.user_actions == len(market.user_actions)
    assert counts.orders == sum(a["action"]["order"] for a in market.user_actions)


def test_written_files_are_byte_identical_for_the_same_seed(tmp_path: Path) -> None:
    config = SynthConfig(services=70, users=50, days=2, seed=8, sessions_per_day=0.5)
    write(config, tmp_path / "first")
    write(config, tmp_path / "second")
    for name in OUTPUT_FILES:
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes()


def test_ground_truth_rebuilds_the_same_choice_model(market: SyntheticMarketplace) -> None:
    truth = json.loads(json.dumps(market.ground_truth))
    rebuilt = behaviour_from_ground_truth(truth)
    profiles = list(range(0, rebuilt.n_profiles, 7))
    ids = market.catalogue.ids
    assert (
        rebuilt.affinity_matrix(profiles, ids) == market.behaviour.affinity_matrix(profiles, ids)
    ).all()
    assert rebuilt.profile_of(user_id=1) == 0
    visitor = truth["visitors"]["unique_ids"][0]
    assert rebuilt.profile_of(unique_id=visitor) == SMALL.users
    future = truth["users"]["future_orders"]
    accessed = {u["id"]: set(u["accessed_services"]) for u in market.dump["users"]}
    assert sum(len(f) for f in future) > 0.9 * SMALL.users * SMALL.future_orders
    for user_id, orders in zip(truth["users"]["ids"], future, strict=True):
        assert not set(orders) & accessed[user_id]
