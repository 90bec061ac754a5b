"""The models a serving process holds in memory, and which one answers a request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from recommender.engines import canonical_name
from recommender.engines.base import Model

LAST_RESORT = "popularity"


@dataclass(frozen=True)
class LoadedModel:
    engine: str
    model: Model
    # The registry version; None for models every process rebuilds from the store.
    version: int | None = None


def choose(
    models: Mapping[str, LoadedModel],
    requested: str | None,
    default: str,
    fallback: Sequence[str],
) -> LoadedModel:
    """The requested engine if it has a model, else the default, else the fallback order.

    An unknown requested name raises `UnknownEngineError`; a name that is known but has no
    active model quietly falls back, as the contract asks.
    """
    order = []
    if requested:
        order.append(canonical_name(requested))
    order.append(default)
    order.extend(fallback)
    order.append(LAST_RESORT)
    for name in order:
        if name in models:
            return models[name]
    raise LookupError("no model is loaded, not even popularity")
