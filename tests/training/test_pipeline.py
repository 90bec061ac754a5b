from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from recommender.activity.imports import import_recommendations
from recommender.api.app import create_app
from recommender.catalog.loader import replace_catalog
from recommender.config import Settings
from recommender.engines.base import Artifact
from recommender.engines.limits import EngineLimitError
from recommender.registry import versions
from recommender.store.database import Database
from recommender.synthetic import SynthConfig, generate
from recommender.tasks.executor import wait_for
from recommender.training.pipeline import NotEnoughDataError, train_engine
from recommender.training.transition_log import load_transitions
from tests.api.conftest import load_catalog, make_settings, runtime_of
from tests.factories import dump, recommendation_request, service, two_communities, user


@pytest.fixture
def store(db: Database) -> Database:
    with db.write() as conn:
        replace_catalog(conn, two_communities(n_services=16, n_users=80))
    return db


def settings_for(db: Database) -> Settings:
    return Settings(_env_file=None, database_url=db.url)


def test_a_trained_version_is_registered_and_activated(store: Database) -> None:
    steps: list[float] = []
    outcome = train_engine(
        store, settings_for(store), "ease", lambda f, _m: steps.append(f), task_id="t-1"
    )
    assert outcome["status"] == "active", outcome["gate"]
    assert outcome["metrics"]["NDCG@10"] > outcome["baseline"]["NDCG@10"]
    assert steps[0] == 0.0 and steps == sorted(steps)
    with Session(store.engine) as session:
        row = versions.active(session, "ease")
        assert row is not None and row.version == 1 and row.task_id == "t-1"
        assert row.fingerprint["users"] == 80 and row.fingerprint["evaluated_users"] > 0
        assert row.params["l2"] > 0
        model = Artifact.from_bytes(row.artifact or b"")
    assert model.meta


def test_a_version_below_the_gate_stays_a_candidate(store: Database) -> None:
    first = train_engine(store, settings_for(store), "ease", lambda f, m: None)
    assert first["status"] == "active"
    with store.write() as conn, Session(bind=conn) as session:
        # Pretend the active version had measured far better than anything can.
        active = versions.active(session, "ease")
        assert active is not None
        active.metrics = {**active.metrics, "NDCG@10": 0.99}
        session.flush()
    second = train_engine(store, settings_for(store), "ease", lambda f, m: None)
    assert second["status"] == "candidate"
    assert "below the active version" in second["gate"]["reasons"][0]
    with Session(store.engine) as session:
        still = versions.active(session, "ease")
        assert still is not None and still.version == first["version"]


def test_nothing_to_hold_out_is_a_clear_error(db: Database) -> None:
    with db.write() as conn:
        replace_catalog(conn, dump([service(1), service(2)], [user(1, accessed_services=[1])]))
    with pytest.raises(NotEnoughDataError, match="no user has two interactions"):
        train_engine(db, settings_for(db), "ease", lambda f, m: None)


@pytest.mark.slow
def test_ncf_trains_on_a_synthetic_marketplace_and_is_served(tmp_path: Path) -> None:
    market = generate(SynthConfig(services=60, users=300, days=7, seed=1))
    url = f"sqlite:///{tmp_path / 'ncf.db'}"
    # The engine's own defaults: this test is about a model worth serving.
    with TestClient(create_app(make_settings(url, tmp_path, engine_params_file=None))) as api:
        load_catalog(api, market.dump)
        for action in market.user_actions:
            assert api.post("/user_actions", json=action).status_code == 204
        runtime = runtime_of(api)
        task_id = runtime.executor.submit("train", engine="ncf")
        task = wait_for(runtime.db, task_id, timeout=300)
        assert task.state == "succeeded", task.error
        runtime.serving.refresh()

        listed = api.get("/models/ncf").json()
        version = listed["versions"][0]
        assert version["status"] == "active", version["gate"]
        assert version["metrics"]["NDCG@10"] > version["baseline_metrics"]["NDCG@10"]
        assert len(version["curves"]["loss"]) == len(version["curves"]["val_HR@10"]) >= 1

        warm = next(u for u in market.dump["users"] if u["accessed_services"])
        cold = next(u for u in market.dump["users"] if not u["accessed_services"])
        for user in (warm, cold):
            answer = api.post(
                "/recommendations",
                json=recommendation_request(user_id=user["id"], engine_version="pre_agent"),
            ).json()
            assert answer["engine_version"] == "ncf"
            assert len(answer["recommendations"]) == 3
            assert not set(answer["recommendations"]) & set(user["accessed_services"])


@pytest.mark.slow
def test_rl_learns_from_posted_panels_and_actions_and_is_served(tmp_path: Path) -> None:
    # Enough people that what rl learns shows above popularity among those who declared the
    # same interests, the baseline its gate compares it with.
    market = generate(SynthConfig(services=60, users=600, days=7, seed=2))
    url = f"sqlite:///{tmp_path / 'rl.db'}"
    # The portal's replay posts thousands of actions as fast as it can: no rate limit here.
    settings = make_settings(url, tmp_path, engine_params_file=None, rate_limit_per_s=0)
    with TestClient(create_app(settings)) as api:
        load_catalog(api, market.dump)
        # Panels are asked for and then clicked, as the portal does: each click names the
        # impression it came from by visit and panel.
        runtime = runtime_of(api)
        with runtime.db.write() as conn:
            import_recommendations(conn, market.recommendations)
        for action in market.user_actions:
            assert api.post("/user_actions", json=action).status_code == 204
        task_id = runtime.executor.submit("train", engine="rl")
        task = wait_for(runtime.db, task_id, timeout=600)
        assert task.state == "succeeded", task.error
        runtime.serving.refresh()

        version = api.get("/models/rl").json()["versions"][0]
        assert version["status"] == "active", version["gate"]
        # The final fit learned from the logged panels, not only from usage.
        assert version["fingerprint"]["transitions"] > 0
        with runtime.db.engine.connect() as conn:
            logged = load_transitions(conn)
        assert (logged.rewards > 0).any()

        warm = next(u for u in market.dump["users"] if len(u["accessed_services"]) >= 2)
        answer = api.post(
            "/recommendations",
            json=recommendation_request(user_id=warm["id"], engine_version="rl_agent"),
        ).json()
        assert answer["engine_version"] == "rl"
        assert len(answer["recommendations"]) == 3
        assert not set(answer["recommendations"]) & set(warm["accessed_services"])
        assert all(text for text in answer["explanations"])


def test_an_engine_over_its_item_limit_is_refused_before_fitting(store: Database) -> None:
    settings = Settings(_env_file=None, database_url=store.url, engine_max_items="EASE=10")
    with pytest.raises(EngineLimitError, match=r"ease is limited to 10 services .* has 16"):
        train_engine(store, settings, "ease", lambda f, m: None)
    with Session(store.engine) as session:
        assert not versions.listing(session, "ease")
