"""Engines trained on a synthetic marketplace the production way: through a store of its own.

The marketplace's dump, served panels and user actions go into a temporary SQLite store
(migrations, the catalogue loader, the activity import), `build_interactions` reads the
training data back, and each engine is fitted by name. An engine that stops early first fits
on a validation fold of the data to find its epochs, then again on all of it, as
`training.pipeline` does.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select

from recommender.activity.imports import import_actions, import_recommendations
from recommender.activity.usage import InteractionWeights, build_interactions
from recommender.catalog.loader import replace_catalog
from recommender.config import Settings
from recommender.contract.rewards import RewardValues
from recommender.engines import engine_class
from recommender.engines.base import Model, TrainingOptions
from recommender.evaluation.datasets import from_interactions
from recommender.evaluation.protocols import temporal_loo
from recommender.evaluation.runner import validation_on
from recommender.interactions import Interactions
from recommender.store import migrate
from recommender.store.database import Database
from recommender.store.schema import User
from recommender.synthetic.generator import SyntheticMarketplace
from recommender.training.transition_log import extend_transitions, load_transitions
from recommender.transitions import Transitions


def load_marketplace(db: Database, market: SyntheticMarketplace) -> None:
    """Put a marketplace's dump, then its served panels and user actions, into a store."""
    migrate.upgrade(db.engine)
    with db.write() as conn:
        replace_catalog(conn, market.dump)
    with db.write() as conn:
        by_aai = {aai: uid for uid, aai in conn.execute(select(User.id, User.aai_uid)) if aai}
        import_recommendations(conn, market.recommendations)
        import_actions(conn, market.user_actions, by_aai)


@dataclass(frozen=True, eq=False)
class TrainingData:
    """What a training job would read from a store holding the marketplace."""

    interactions: Interactions
    # The logged panels with their rewards, for engines that learn from them.
    transitions: Transitions


def marketplace_data(
    market: SyntheticMarketplace,
    weights: InteractionWeights | None = None,
    rewards: RewardValues | None = None,
) -> TrainingData:
    """The usage matrix and the logged panels, read back from a store of this marketplace."""
    with tempfile.TemporaryDirectory(prefix="recommender-simulation-") as folder:
        url = f"sqlite:///{Path(folder) / 'marketplace.db'}"
        db = Database(url, pool_size=1)
        try:
            load_marketplace(db, market)
            extend_transitions(db, Settings(_env_file=None, database_url=url))
            with db.engine.connect() as conn:
                return TrainingData(
                    interactions=build_interactions(conn, weights),
                    transitions=load_transitions(conn, values=rewards),
                )
        finally:
            db.dispose()


def marketplace_interactions(
    market: SyntheticMarketplace, weights: InteractionWeights | None = None
) -> Interactions:
    """The training data serving would read from a store holding this marketplace."""
    with tempfile.TemporaryDirectory(prefix="recommender-simulation-") as folder:
        db = Database(f"sqlite:///{Path(folder) / 'marketplace.db'}", pool_size=1)
        try:
            load_marketplace(db, market)
            with db.engine.connect() as conn:
                return build_interactions(conn, weights)
        finally:
            db.dispose()


def fit_engine(
    name: str,
    data: Interactions,
    params: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    device: str = "cpu",
    transitions: Transitions | None = None,
) -> Model:
    """Fit the engine registered as `name` (an unknown name raises `UnknownEngineError`).

    An engine that stops early first fits on all but each user's latest interaction and stops
    on those, then is fitted again on everything with what it chose; an engine that learns
    from logged panels gets `transitions` in its final fit, as `training.pipeline` does.
    """
    engine = engine_class(name)(params)
    options = TrainingOptions(seed=seed, device=device)
    final = replace(options, transitions=transitions) if engine.learns_from_panels else options
    if not engine.uses_validation:
        return engine.fit(data, final)
    split = temporal_loo(from_interactions(data, "simulation"), seed)
    tuned = engine.fit(
        split.test.train, replace(options, validation=validation_on(split.test, seed=seed))
    )
    chosen = engine.params.model_dump() | tuned.fitted_params
    return engine_class(name)(chosen).fit(data, final)
