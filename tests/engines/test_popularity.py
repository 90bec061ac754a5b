from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender.engines.base import Query
from recommender.engines.popularity import PopularityEngine, PopularityModel, Use, most_popular
from recommender.interactions import Interactions
from tests.engines.contract import EngineContract


class TestPopularityContract(EngineContract):
    engine_name = "popularity"
    personalised = False


class StubNames:
    def service(self, service_id: int) -> str | None:
        return f"service {service_id}"

    def scientific_domain(self, domain_id: int) -> str | None:
        return {1: "Biology", 2: "Physics"}.get(domain_id)

    def category(self, category_id: int) -> str | None:
        return None


def two_communities() -> Interactions:
    # Users 1-3 are biologists who all use service 10; users 4-9 are physicists using 20.
    users = [1, 2, 3, 4, 5, 6, 7, 8, 9, 1]
    items = [10, 10, 10, 20, 20, 20, 20, 20, 20, 30]
    domains = sp.csr_matrix(
        ([1.0] * 9, ([0, 1, 2, 3, 4, 5, 6, 7, 8], [0, 0, 0, 1, 1, 1, 1, 1, 1])), shape=(9, 2)
    )
    return Interactions.from_events(
        users,
        items,
        user_features={"scientific_domains": domains},
        feature_vocab={"scientific_domains": np.array([1, 2])},
    )


def test_global_ranking_counts_distinct_users() -> None:
    data = Interactions.from_events([1, 1, 1, 2, 3], [10, 10, 10, 20, 20])
    model = PopularityEngine().fit(data)
    assert list(most_popular(model, Query(), np.array([10, 20]), 2)) == [20, 10]


def test_context_ranks_what_the_context_uses() -> None:
    model = PopularityEngine().fit(two_communities())
    items = np.array([10, 20, 30])
    assert most_popular(model, Query(), items, 1)[0] == 20
    biology = Query(scientific_domains=(1,))
    assert most_popular(model, biology, items, 1)[0] == 10


def test_queries_asked_in_turn_each_get_their_own_context() -> None:
    """Ordering, scores and explanations of one request ask about the same query in turn;
    another query in between must not get the first one's context."""
    model = PopularityEngine().fit(two_communities())
    items = np.array([10, 20, 30])
    biology, anyone = Query(scientific_domains=(1,)), Query()
    alone = {id(q): model.score(q, items) for q in (biology, anyone)}
    assert not np.array_equal(alone[id(biology)], alone[id(anyone)])
    for query in (biology, anyone, anyone, biology, Query(scientific_domains=(1,))):
        expected = alone[id(anyone)] if query is anyone else alone[id(biology)]
        np.testing.assert_array_equal(model.score(query, items), expected)
        assert (model.ordering(query) is None) == (query is not anyone)


def test_unknown_context_value_falls_back_to_global() -> None:
    model = PopularityEngine().fit(two_communities())
    items = np.array([10, 20, 30])
    np.testing.assert_allclose(
        model.score(Query(scientific_domains=(99,)), items), model.score(Query(), items)
    )


def test_explanations_name_the_context() -> None:
    model = PopularityEngine().fit(two_communities())
    explanations = model.explain(
        Query(scientific_domains=(1,)), np.array([10, 20, 40]), StubNames()
    )
    assert explanations[0].short == "Popular among users in Biology"
    assert "3 researchers" in explanations[0].long
    assert explanations[1].short == "Popular in the Marketplace"
    assert "6 researchers" in explanations[1].long
    assert explanations[2].short == "Matches your search"


def test_uses_since_the_fit_count_as_a_fit_on_them_would() -> None:
    data = two_communities()
    model = PopularityEngine().fit(data)
    # Physicist 4 starts on 10, biologists 2 and 3 on 30 (two uses in one refresh, one
    # naming its domain twice); service 99 is unknown to the model and passed over.
    uses = [
        Use(item=10, scientific_domains=(2,), categories=()),
        Use(item=30, scientific_domains=(1,), categories=()),
        Use(item=30, scientific_domains=(1, 1), categories=()),
        Use(item=99, scientific_domains=(1,), categories=()),
    ]
    counted = model.with_uses(uses)
    refit = PopularityEngine().fit(
        Interactions.from_events(
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 4, 2, 3],
            [10, 10, 10, 20, 20, 20, 20, 20, 20, 30, 10, 30, 30],
            user_features={"scientific_domains": data.user_features["scientific_domains"]},
            feature_vocab={"scientific_domains": np.array([1, 2])},
        )
    )
    items = np.array([10, 20, 30])
    for query in (Query(), Query(scientific_domains=(1,)), Query(scientific_domains=(2,))):
        np.testing.assert_allclose(counted.score(query, items), refit.score(query, items))
    # The model it came from is unchanged: a refresh never alters what is serving.
    np.testing.assert_allclose(
        model.score(Query(scientific_domains=(1,)), items),
        PopularityEngine().fit(data).score(Query(scientific_domains=(1,)), items),
    )


def random_marketplace(seed: int) -> Interactions:
    """300 users of 400 items, each user declaring a few of 6 domains and 12 categories."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 300, 6_000)
    items = rng.integers(0, 400, 6_000) * 3 + 5  # ids not positions
    features = {}
    for name, values in (("scientific_domains", 6), ("categories", 12)):
        member = (rng.random((300, values)) < 0.3).astype(np.float32)
        features[name] = sp.csr_matrix(member)
    return Interactions.from_events(
        users,
        items,
        user_features=features,
        feature_vocab={"scientific_domains": np.arange(1, 7), "categories": np.arange(1, 13)},
    )


def shrunk_in_float64(model: PopularityModel, query: Query, items: np.ndarray) -> np.ndarray:
    """The contextual share as defined: (users of the item in the query's context + m x the
    item's global share) / (users in the context + m), in float64, then float32."""
    pos = np.searchsorted(model.item_ids, items)
    hits = np.zeros(items.shape[0])
    users = 0.0
    for feature, values in (
        ("scientific_domains", query.scientific_domains),
        ("categories", query.categories),
    ):
        vocab, counts, per_value = model.context[feature]
        for value in values:
            row = int(np.flatnonzero(vocab == value)[0])
            hits += counts[row].toarray().ravel().astype(np.float64)[pos]
            users += float(per_value[row])
    m = model.smoothing
    share = model.counts[pos] / max(model.n_users, 1)
    return ((hits + m * share) / (users + m)).astype(np.float32)


def test_contextual_scores_are_the_shrunk_share_exactly_in_either_precision() -> None:
    """Rows are summed in float32 while whole counts stay exact there, in float64 beyond:
    either way every score is the float64 formula's, to the last bit."""
    rng = np.random.default_rng(3)
    model = PopularityEngine().fit(random_marketplace(3))
    every = model.item_ids
    some = np.sort(rng.choice(every, 90, replace=False))
    queries = [
        Query(
            scientific_domains=tuple(int(v) for v in rng.choice(np.arange(1, 7), d, False)),
            categories=tuple(int(v) for v in rng.choice(np.arange(1, 13), c, False)),
        )
        for d, c in [(1, 0), (0, 2), (2, 3), (3, 4), (6, 12)]
    ]
    for wide in (False, True):
        if wide:
            model._most_users = 2.0**24  # as if counts were too large for float32 sums
        for query in queries:
            whole = model.score_all(query)
            assert whole is not None
            np.testing.assert_array_equal(whole[1], shrunk_in_float64(model, query, every))
            scores = model.score(query, some)
            assert scores.dtype == np.float32
            np.testing.assert_array_equal(scores, shrunk_in_float64(model, query, some))
