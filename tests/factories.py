"""Small, consistent catalogue dumps and payloads for tests, built in code."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from recommender.activity.impressions import Impression

BIOLOGY, PHYSICS = 1, 2
DATA, COMPUTE = 10, 20
EGI, EUDAT = 100, 200
VOCABULARY_NAMES = {
    "scientific_domains": {BIOLOGY: "Biology", PHYSICS: "Physics"},
    "categories": {DATA: "Data management", COMPUTE: "Compute"},
    "providers": {EGI: "EGI Foundation", EUDAT: "EUDAT"},
    "platforms": {1: "EOSC"},
    "target_users": {1: "Researchers", 2: "Students"},
    "access_modes": {1: "Free"},
    "access_types": {1: "Virtual"},
    "trls": {1: "trl-7", 2: "trl-9"},
    "life_cycle_statuses": {1: "Production"},
    "research_steps": {1: "Analysis"},
}


def service(service_id: int, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": service_id,
        "name": f"Service {service_id}",
        "description": f"Description of service {service_id}",
        "tagline": f"tagline {service_id}",
        "countries": ["PL"],
        "order_type": "open_access",
        "rating": "4.0",
        "status": "published",
        "pid": f"service.{service_id}",
        "horizontal": False,
        "resource_organisation": EGI,
        "categories": [DATA],
        "providers": [EGI],
        "scientific_domains": [BIOLOGY],
        "platforms": [1],
        "target_users": [1],
        "related_services": [],
        "required_services": [],
        "access_modes": [1],
        "access_types": [1],
        "trls": [2],
        "life_cycle_statuses": [1],
        "research_steps": [1],
    }
    record.update(fields)
    return record


def user(user_id: int, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": user_id,
        "aai_uid": f"user{user_id}@aai.example.org",
        "scientific_domains": [BIOLOGY],
        "categories": [DATA],
        "accessed_services": [],
    }
    record.update(fields)
    return record


def dump(
    services: list[dict[str, Any]] | None = None,
    users: list[dict[str, Any]] | None = None,
    *,
    projects: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A valid dump of the 13-array format; the vocabularies cover the factories' ids."""
    doc: dict[str, Any] = {
        name: [{"id": i, "name": label, "description": f"{label}."} for i, label in values.items()]
        for name, values in VOCABULARY_NAMES.items()
    }
    doc["services"] = services if services is not None else [service(1)]
    doc["users"] = users if users is not None else []
    doc["projects"] = projects or []
    return copy.deepcopy(doc)


def two_communities(n_services: int = 12, n_users: int = 30) -> dict[str, Any]:
    """Biology services 1..n/2 used by biologists, physics services n/2+1..n by physicists.

    Within each community usage is skewed: service 1 is the most used biology service and
    service n/2+1 the most used physics one, used by everyone in the community. After it, each
    community has two circles that go through the rest in opposite orders; which circle
    someone is in shows in their history (what co-use engines learn), not in their declared
    interests (all that popularity ranks by).
    """
    half = n_services // 2
    services = []
    for sid in range(1, n_services + 1):
        bio = sid <= half
        services.append(
            service(
                sid,
                name=("Bio" if bio else "Phys") + f" service {sid}",
                scientific_domains=[BIOLOGY if bio else PHYSICS],
                categories=[DATA if bio else COMPUTE],
                providers=[EGI if bio else EUDAT],
                resource_organisation=EGI if bio else EUDAT,
                countries=["PL"] if sid % 2 else ["DE"],
            )
        )
    users = []
    for uid in range(1, n_users + 1):
        bio = uid % 2 == 1
        first = 1 if bio else half + 1
        # user k uses the first (k % half) + 1 services of its circle's order
        order = [0, *range(1, half)] if (uid // 2) % 2 == 0 else [0, *range(half - 1, 0, -1)]
        used = [first + j for j in order[: (uid // 2) % half + 1]]
        users.append(
            user(
                uid,
                scientific_domains=[BIOLOGY if bio else PHYSICS],
                categories=[DATA if bio else COMPUTE],
                accessed_services=used,
            )
        )
    return dump(services, users)


def recommendation_request(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "unique_id": "5a1b8f3e-0000-4000-8000-000000000001",
        "timestamp": "2026-11-27T10:00:00Z",
        "visit_id": "visit-1",
        "page_id": "/services",
        "panel_id": "v1",
    }
    body.update(fields)
    return body


def user_action(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "unique_id": "5a1b8f3e-0000-4000-8000-000000000001",
        "timestamp": "2026-11-27T10:00:05Z",
        "source": {
            "visit_id": "visit-1",
            "page_id": "/services",
            "root": {"type": "recommendation_panel", "panel_id": "v1", "service_id": 1},
        },
        "target": {"visit_id": "visit-2", "page_id": "/services/1"},
        "action": {"type": "button", "text": "Details", "order": False},
    }
    body.update(fields)
    return body


def impression(**fields: Any) -> Impression:
    """A served panel as the serving path stores it."""
    values: dict[str, Any] = {
        "requested_at": datetime(2026, 11, 27, 10, 0, tzinfo=UTC),
        "unique_id": "5a1b8f3e-0000-4000-8000-000000000001",
        "visit_id": "visit-1",
        "page_id": "/services",
        "panel_id": "v1",
        "client_id": "marketplace",
        "user_id": None,
        "aai_uid": None,
        "engine_requested": None,
        "engine": "popularity",
        "model_version": None,
        "catalog_version": 1,
        "search_data": {},
        "candidates": None,
        "candidate_count": 3,
        "service_ids": [1, 2, 3],
        "scores": [0.3, 0.2, 0.1],
        "explanations": ["Popular among users", "Popular among users", "Popular among users"],
    }
    values.update(fields)
    return Impression(**values)
