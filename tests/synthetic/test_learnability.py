"""Topics can be learnt from what the dump shows: features beat popularity on held-out orders.

The engines built on this data (NCF with a content tower, for users without history too) can
only win if declared interests and service features carry the hidden topics. A hand-written
content scorer, using nothing hidden, shows that they do.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from recommender.arrays import DoubleArray
from recommender.synthetic import SynthConfig, SyntheticMarketplace, generate
from recommender.synthetic.vocabulary import load_vocabulary, membership


@pytest.fixture(scope="module")
def mid_market() -> SyntheticMarketplace:
    return generate(
        SynthConfig(services=300, users=2000, days=2, seed=4, future_orders=5, cold_start_share=0.3)
    )


def _topic(rows: list[DoubleArray], k: int) -> DoubleArray:
    if not rows:
        return np.full(k, 1.0 / k)
    stacked = np.array(rows)
    weights = stacked.max(axis=1) ** 2
    topic = (weights[:, None] * stacked).sum(axis=0)
    return np.asarray(topic / topic.sum())


def _hit_rate(
    market: SyntheticMarketplace, users: list[int], score: Callable[[int], DoubleArray], k: int = 3
) -> float:
    services = market.dump["services"]
    recommendable = np.array([s["status"] in ("published", "unverified") for s in services])
    future = market.ground_truth["users"]["future_orders"]
    hits = 0
    for u in users:
        scores = score(u).astype(float)
        scores[~recommendable] = -np.inf
        used = np.asarray(market.dump["users"][u]["accessed_services"], dtype=np.int64)
        scores[used - 1] = -np.inf
        top = set((np.argsort(-scores, kind="stable")[:k] + 1).tolist())
        hits += bool(top & set(future[u]))
    return hits / len(users)


def test_declared_interests_and_features_beat_popularity(
    mid_market: SyntheticMarketplace,
) -> None:
    vocab = load_vocabulary()
    k = vocab.n_clusters
    domains = membership(vocab.scientific_domains, k)
    categories = membership(vocab.categories, k)
    dump = mid_market.dump
    n = len(dump["services"])
    usage = np.zeros(n)
    for user in dump["users"]:
        usage[np.asarray(user["accessed_services"], dtype=np.int64) - 1] += 1
    service_topics = np.array(
        [
            _topic(
                [domains[d - 1] for d in s["scientific_domains"]]
                + [categories[c - 1] for c in s["categories"]],
                k,
            )
            for s in dump["services"]
        ]
    )
    boost = np.log(2 + usage)

    def popularity(u: int) -> DoubleArray:
        return usage + 1e-6 * boost

    def declared(u: int) -> DoubleArray:
        user = dump["users"][u]
        rows = [domains[d - 1] for d in user["scientific_domains"]]
        rows += [categories[c - 1] for c in user["categories"]]
        return np.asarray((service_topics @ _topic(rows, k)) * boost)

    def history(u: int) -> DoubleArray:
        used = np.asarray(dump["users"][u]["accessed_services"], dtype=np.int64) - 1
        return np.asarray((service_topics @ service_topics[used].mean(axis=0)) * boost)

    cold = [u for u, user in enumerate(dump["users"]) if not user["accessed_services"]]
    warm = [u for u, user in enumerate(dump["users"]) if user["accessed_services"]]
    assert len(cold) == 600 and len(warm) == 1400
    cold_pop, cold_content = (
        _hit_rate(mid_market, cold, popularity),
        _hit_rate(mid_market, cold, declared),
    )
    warm_pop, warm_content = (
        _hit_rate(mid_market, warm, popularity),
        _hit_rate(mid_market, warm, history),
    )
    # At this seed: cold 0.40 -> 0.51 (600 users), warm 0.33 -> 0.63 (1,400 users).
    assert cold_content > cold_pop + 0.05, (cold_pop, cold_content)
    assert warm_content > warm_pop + 0.15, (warm_pop, warm_content)
