"""The models a serving process holds in memory, and which one answers a request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from recommender.engines import canonical_name
from recommender.engines.base import Query
from recommender.registry.loading import LoadedModel

LAST_RESORT = "popularity"


AUTO = "auto"


def choose(
    models: Mapping[str, LoadedModel],
    requested: str | None,
    default: str,
    fallback: Sequence[str],
    query: Query,
    *,
    first: LoadedModel | None = None,
) -> LoadedModel:
    """The requested engine if it has a model, else the default, else the fallback order,
    ending at popularity; an engine whose model cannot personalise for this query (no
    history, say) is passed over, so anonymous visitors get popularity in context.

    `first` (a version an experiment pins) is tried before everything else. An unknown
    requested name raises `UnknownEngineError`.
    """
    if first is not None and first.model.knows(query):
        return first
    order: list[str] = []
    if requested:
        order.append(canonical_name(requested))
    if default == AUTO:
        ranked = sorted(
            (m for m in models.values() if m.quality is not None),
            key=lambda m: -(m.quality or 0.0),
        )
        order.extend(m.engine for m in ranked)
    else:
        order.append(default)
    order.extend(fallback)
    order.append(LAST_RESORT)
    for name in order:
        loaded = models.get(name)
        if loaded is not None and loaded.model.knows(query):
            return loaded
    if LAST_RESORT in models:
        return models[LAST_RESORT]
    raise LookupError("no model is loaded, not even popularity")
