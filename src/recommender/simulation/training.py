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
from pathlib import Path
from typing import Any

from sqlalchemy import select

from recommender.activity.imports import import_actions, import_recommendations
from recommender.catalog.loader import replace_catalog
from recommender.engines import engine_class
from recommender.engines.base import Model, TrainingOptions
from recommender.evaluation.datasets import from_interactions
from recommender.evaluation.protocols import temporal_loo
from recommender.evaluation.runner import fit_for
from recommender.interactions import Interactions
from recommender.store import migrate
from recommender.store.database import Database
from recommender.store.schema import User
from recommender.synthetic.generator import SyntheticMarketplace
from recommender.training.dataset import InteractionWeights, build_interactions


def load_marketplace(db: Database, market: SyntheticMarketplace) -> None:
    """Put a marketplace's dump, then its served panels and user actions, into a store."""
    migrate.upgrade(db.engine)
    with db.write() as conn:
        replace_catalog(conn, market.dump)
    with db.write() as conn:
        by_aai = {aai: uid for uid, aai in conn.execute(select(User.id, User.aai_uid)) if aai}
        import_recommendations(conn, market.recommendations)
        import_actions(conn, market.user_actions, by_aai)


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
) -> Model:
    """Fit the engine registered as `name` (an unknown name raises `UnknownEngineError`)."""
    engine = engine_class(name)(params)
    options = TrainingOptions(seed=seed, device=device)
    if not engine.uses_validation:
        return engine.fit(data, options)
    split = temporal_loo(from_interactions(data, "simulation"), seed)
    tuned = fit_for(engine, split.test, split.validation, options)
    chosen = engine.params.model_dump() | tuned.fitted_params
    return engine_class(name)(chosen).fit(data, options)
