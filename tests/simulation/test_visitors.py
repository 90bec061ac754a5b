"""Synthetic visitors driving the real application over HTTP: what they did is what the
server stored and attributes, arm by arm."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from recommender.api.app import create_app
from recommender.simulation.environment import MarketplaceEnv
from recommender.simulation.visitors import anonymous_episodes, run_sessions
from recommender.store.schema import Recommendation, UserAction
from recommender.synthetic import SyntheticMarketplace
from tests.api.conftest import load_catalog, make_settings, runtime_of


def test_visitors_drive_an_experiment_and_the_report_counts_what_they_did(
    market: SyntheticMarketplace, tmp_path: Path
) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'v.db'}", tmp_path, rate_limit_per_s=0)
    with TestClient(create_app(settings)) as client:
        load_catalog(client, market.dump)
        experiment = client.post(
            "/experiments",
            json={
                "name": "pop-vs-random",
                "panels": ["v1"],
                "arms": [
                    {"name": "popularity", "engine": "popularity", "weight": 1},
                    {"name": "random", "engine": "random", "weight": 1},
                ],
            },
        ).json()
        env = MarketplaceEnv(market, steps=3, seed=5)
        ordered: dict[int, set[int]] = {}
        panels = run_sessions(
            client,
            env,
            range(40),
            start=datetime(2026, 12, 1, tzinfo=UTC),
            session_spacing_s=600,
            ordered=ordered,
        )
        assert len(panels) == 120
        # Each panel's exact click chance is at most that of the best panel the server could
        # have shown on the page, and the random arm's fall further short than popularity's.
        assert all(0 < p.expected <= p.best + 1e-12 <= 1 + 1e-12 for p in panels)
        share = {
            arm: sum(p.expected for p in panels if p.arm == arm)
            / sum(p.best for p in panels if p.arm == arm)
            for arm in ("popularity", "random")
        }
        assert share["random"] < share["popularity"] < 1
        assert sum(map(len, ordered.values())) == sum(p.ordered for p in panels) > 0
        assert {p.arm for p in panels} == {"popularity", "random"}
        assert all(p.engine == p.arm for p in panels)
        with runtime_of(client).db.engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(Recommendation)).scalar_one()
            actions = conn.execute(select(func.count()).select_from(UserAction)).scalar_one()
        assert stored == len(panels)
        assert actions == sum(p.clicked + p.ordered for p in panels)
        report = client.get(f"/experiments/{experiment['id']}").json()
        sent: Counter[tuple[str, str]] = Counter()
        for p in panels:
            sent[(p.arm or "", "impressions")] += 1
            sent[(p.arm or "", "clicks")] += int(p.clicked > 0)
            sent[(p.arm or "", "orders")] += int(p.ordered > 0)
        for arm in report["arms"]:
            for kind in ("impressions", "clicks", "orders"):
                assert arm[kind] == sent[(arm["name"], kind)], (arm["name"], kind)
        assert sum(p.clicked for p in panels) > 0


def test_browsing_visitors_post_what_they_open_as_visits_from_the_list_into_the_session(
    market: SyntheticMarketplace, tmp_path: Path
) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'b.db'}", tmp_path, rate_limit_per_s=0)
    with TestClient(create_app(settings)) as client:
        load_catalog(client, market.dump)
        env = MarketplaceEnv(market, steps=3, seed=5, browse=True)
        start = datetime(2026, 12, 1, tzinfo=UTC)
        panels = run_sessions(client, env, range(40), start=start, session_spacing_s=600)
        opened = sum(p.opened for p in panels)
        assert opened > 0
        with runtime_of(client).db.engine.connect() as conn:
            rows = conn.execute(
                select(UserAction.root_type, UserAction.is_order, UserAction.recommendation_id)
            ).all()
            last = conn.execute(
                select(UserAction.unique_id, UserAction.service_id, UserAction.timestamp)
                .where(UserAction.root_type == "other", UserAction.user_id.is_(None))
                .order_by(UserAction.id.desc())
                .limit(1)
            ).one_or_none()
        roots = Counter((root, order) for root, order, _ in rows)
        assert roots[("other", False)] == opened
        assert roots[("other", True)] == sum(p.opened_ordered for p in panels)
        assert roots[("recommendation_panel", False)] == sum(p.clicked for p in panels)
        # Services opened from the list are no panel's clicks.
        assert all(link is None for root, _, link in rows if root == "other")
        # An anonymous visitor's opened service is in its session, as a panel click would be.
        assert last is not None
        unique_id, service, at = last
        recent = runtime_of(client).sessions.recent(unique_id, None, at.timestamp())
        assert service in recent.session


def test_anonymous_episodes_are_those_of_visitors_not_logged_in(
    market: SyntheticMarketplace,
) -> None:
    env = MarketplaceEnv(market, steps=2, seed=5)
    episodes = anonymous_episodes(env, 5)
    assert len(episodes) == 5
    assert all(env.reset(e).user_id is None for e in episodes)
