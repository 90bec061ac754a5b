"""The OpenAPI document says exactly what the server enforces: what it lists is accepted,
what it rules out is refused (the cases schemathesis found, each checked by hand)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from recommender.contract.ids import MAX_ID
from recommender.engines import accepted_names
from tests.api.conftest import load_catalog
from tests.factories import recommendation_request, two_communities, user_action


def schema_of(client: TestClient, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = client.get("/openapi.json").json()["components"]["schemas"][name]
    return schema


def test_integer_bounds_are_the_ones_enforced(client: TestClient) -> None:
    field = schema_of(client, "UserActionIn")["properties"]["recommendation_id"]["anyOf"][0]
    assert field == {"type": "integer", "minimum": 0, "maximum": MAX_ID}
    assert (
        client.post("/user_actions", json=user_action(recommendation_id=MAX_ID)).status_code == 204
    )
    response = client.post("/user_actions", json=user_action(recommendation_id=MAX_ID + 1))
    assert response.status_code == 400 and "recommendation_id" in response.json()["errors"]


def test_an_integral_number_is_an_integer(client: TestClient) -> None:
    load_catalog(client, two_communities())
    asked = client.post("/recommendations", json=recommendation_request(candidates=[7.0, 8]))
    assert asked.status_code == 200, asked.text
    assert set(asked.json()["recommendations"]) <= {7, 8}
    refused = client.post("/recommendations", json=recommendation_request(candidates=[7.5]))
    assert refused.status_code == 400 and "candidates.0" in refused.json()["errors"]


def test_null_search_data_and_candidates_are_documented(client: TestClient) -> None:
    properties = schema_of(client, "RecommendationRequest")["properties"]
    for name in ("search_data", "candidates"):
        assert {"type": "null"} in properties[name]["anyOf"], name
    body = recommendation_request(search_data=None, candidates=None)
    assert client.post("/recommendations", json=body).status_code == 200


def test_panels_are_an_enum(client: TestClient) -> None:
    panel = schema_of(client, "RecommendationRequest")["properties"]["panel_id"]["anyOf"][0]
    assert panel["enum"] == ["v1", "v2", "service", ""]
    for name in panel["enum"]:
        body = recommendation_request(panel_id=name)
        assert client.post("/recommendations", json=body).status_code == 200, name


def test_engine_names_are_an_enum_on_the_model_endpoints(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    for path in ("/models/{engine}", "/models/{engine}/{version}/activate"):
        (operation,) = document["paths"][path].values()
        (engine,) = [p for p in operation["parameters"] if p["name"] == "engine"]
        assert engine["schema"]["enum"] == accepted_names(), path
    assert schema_of(client, "DefaultEngineIn")["properties"]["engine"]["enum"] == accepted_names()
    assert client.get("/models/rl_agent").status_code == 200
    refused = client.get("/models/NCF")
    assert refused.status_code == 400 and "path.engine" in refused.json()["errors"]


@pytest.mark.parametrize(
    "name", ["ncf", "NCF", " Pre_Agent ", "rl_agent", "itemKnn", "", "gpt", "n cf", "ncf2"]
)
def test_the_engine_version_pattern_matches_what_is_served(client: TestClient, name: str) -> None:
    option = schema_of(client, "RecommendationRequest")["properties"]["engine_version"]["anyOf"][0]
    documented = re.search(option["pattern"], name) is not None
    response = client.post("/recommendations", json=recommendation_request(engine_version=name))
    assert (response.status_code == 200) == documented, response.text


def test_a_405_lists_every_method_of_the_path(client: TestClient) -> None:
    response = client.options("/training")
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == {"GET", "HEAD", "POST"}
    assert client.delete("/recommendations").headers["allow"] == "POST"
