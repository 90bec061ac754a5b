"""Another engine's panel for a logged random-arm context, ranked as serving would rank it,
and the off-policy estimate built on those panels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import Connection

from recommender.engines import canonical_name
from recommender.experiments import logged, off_policy, records
from recommender.experiments.logged import LoggedImpression
from recommender.serving.models import choose
from recommender.serving.recommend import panel, query_of
from recommender.serving.state import ServingState


def ranker(state: ServingState, engine: str, fallback: Sequence[str]) -> off_policy.Ranker:
    """Rank a logged impression's allowed services for its stored query with `engine`, and
    the fallbacks serving would use when it cannot personalise for that query (a new
    anonymous visitor, say), as the engine's arm would have served it."""
    catalog = state.catalog

    def rank(impression: LoggedImpression) -> list[int] | None:
        allowed = impression.allowed
        if allowed is None or impression.context is None:
            return None
        positions = catalog.positions(allowed)
        if positions.shape[0] < len(allowed):
            # A service the random panel could have shown is gone: the engine cannot be asked
            # about the same set, so the impression is left out rather than guessed at.
            return None
        mask = np.zeros(catalog.n_services, dtype=np.bool_)
        mask[positions] = True
        query = query_of(impression.user_id, impression.context)
        chosen = choose(state.models, engine, state.default_engine, fallback, query)
        ids, _scores, _own = panel(state, chosen, query, mask, impression.panel_size)
        return [int(i) for i in ids]

    return rank


def estimate(
    state: ServingState,
    conn: Connection,
    experiment_id: int,
    engine: str,
    fallback: Sequence[str],
    method: str | None = None,
) -> off_policy.Estimate:
    """The off-policy estimate of `engine` on the experiment's log (`InvalidExperimentError`
    names the field that is wrong, `ExperimentNotFoundError` an unknown experiment)."""
    try:
        name = canonical_name(engine)
    except ValueError as error:
        raise records.InvalidExperimentError("engine", str(error)) from None
    chosen = None if method is None else off_policy.check_method(method)
    experiment = records.get(conn, experiment_id)
    if chosen != "arm" and name not in state.models:
        raise records.InvalidExperimentError(
            "engine", f"no model of {name} is loaded to replay the panels with; train it first"
        )
    found = logged.read(conn, experiment_id)
    return off_policy.estimate(experiment, found, name, ranker(state, name, fallback), chosen)
