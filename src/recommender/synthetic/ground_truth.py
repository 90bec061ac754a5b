"""The hidden truth of a synthetic marketplace as compact JSON, and the choice model it implies.

`ground_truth.json` holds what a simulator needs to make the same visitors react to panels an
engine shows, and what an evaluator needs to score engines against true interests:

- `behaviour`: the choice model's parameters and noise seed;
- `services`: ids, topic mixtures over `clusters`, quality, and the cluster each was made for
  (-1 for horizontal services);
- `users`: ids, interest mixtures, the ids of cold-start users, and `future_orders`: services
  each user orders after the window (drawn like every other order, none already used): a
  held-out test set for warm and cold users alike;
- `visitors`: the browser ids and interest mixtures of anonymous visitors.

Profiles, the rows of the choice model, are the users in the listed order, then the visitors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from recommender.synthetic.behaviour import BehaviourModel, BehaviourParams
from recommender.synthetic.catalogue import Catalogue
from recommender.synthetic.population import Population

FORMAT = "marketplace-recommender/synthetic-ground-truth@1"


def build_ground_truth(
    config: Mapping[str, Any],
    clusters: Sequence[str],
    catalogue: Catalogue,
    population: Population,
    behaviour: BehaviourModel,
    future_orders: Sequence[Sequence[int]],
) -> dict[str, Any]:
    n_users = population.n_users
    return {
        "format": FORMAT,
        "config": dict(config),
        "clusters": list(clusters),
        "behaviour": {
            "params": behaviour.params.model_dump(),
            "noise_seed": behaviour.noise_seed,
        },
        "services": {
            "ids": catalogue.ids.tolist(),
            "topics": catalogue.topics.tolist(),
            "quality": catalogue.quality.tolist(),
            "cluster": catalogue.cluster.tolist(),
        },
        "users": {
            "ids": population.user_ids.tolist(),
            "interests": population.interests[:n_users].tolist(),
            "cold_start": population.user_ids[population.cold].tolist(),
            "future_orders": [list(orders) for orders in future_orders],
        },
        "visitors": {
            "unique_ids": population.unique_ids[n_users:],
            "interests": population.interests[n_users:].tolist(),
        },
    }


def behaviour_from_ground_truth(doc: Mapping[str, Any]) -> BehaviourModel:
    """The same choice model the generator used, for a simulator or an evaluator."""
    if doc.get("format") != FORMAT:
        raise ValueError(f"not a synthetic ground truth (format {doc.get('format')!r})")
    users, visitors, services = doc["users"], doc["visitors"], doc["services"]
    k = len(doc["clusters"])
    interests = np.asarray(users["interests"] + visitors["interests"], dtype=np.float64)
    interests = interests.reshape(-1, k)
    n_users = len(users["ids"])
    return BehaviourModel(
        interests=interests,
        service_ids=services["ids"],
        topics=services["topics"],
        quality=services["quality"],
        params=BehaviourParams.model_validate(doc["behaviour"]["params"]),
        noise_seed=int(doc["behaviour"]["noise_seed"]),
        user_profiles={int(u): row for row, u in enumerate(users["ids"])},
        visitor_profiles={v: n_users + row for row, v in enumerate(visitors["unique_ids"])},
    )
