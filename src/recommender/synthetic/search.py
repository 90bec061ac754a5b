"""Search filters visitors set on the catalogue list, and the services those filters show.

Filters follow the portal's rule: a service matches a filter when it has any of the filter's
values, and a search when it matches every filter it sets. A parent domain or category matches
services filed under its children too. Visitors filter by what they are looking for in this
session (one of their clusters), so searches carry the same signal as their interests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from recommender.arrays import BoolArray, DoubleArray, IntArray
from recommender.synthetic.catalogue import Catalogue
from recommender.synthetic.vocabulary import EoscVocabulary, Term, membership

NO_FILTER_SHARE = 0.45
REFINED_NO_FILTER_SHARE = 0.2
SECOND_FILTER_SHARE = 0.2
FILTER_SHARES = {
    "scientific_domains": 0.45,
    "categories": 0.3,
    "q": 0.12,
    "providers": 0.04,
    "related_platforms": 0.03,
    "target_users": 0.03,
    "geographical_availabilities": 0.02,
    "order_type": 0.01,
}
SORTS = {"_score": 0.85, "sort_name": 0.1, "-rating": 0.05}
RESULTS_PER_PAGE = 10
# Dump fields behind the id-list filters of `search_data`.
_ID_FILTERS = {
    "categories": "categories",
    "scientific_domains": "scientific_domains",
    "providers": "providers",
    "related_platforms": "platforms",
    "target_users": "target_users",
}
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9+-]{2,}")
_STOP_WORDS = {"for", "the", "and", "service", "services", "data", "node", "with"}


_FILTER_KINDS = list(FILTER_SHARES)
_FILTER_CDF = np.cumsum(list(FILTER_SHARES.values()))
_SORT_NAMES = list(SORTS)
_SORT_CDF = np.cumsum(list(SORTS.values()))


def _pick(rng: np.random.Generator, cumulative: DoubleArray) -> int:
    """A position drawn in proportion to the weights whose running sums are `cumulative`."""
    return int(np.searchsorted(cumulative, rng.random() * cumulative[-1], "right"))


def _descendants(terms: Sequence[Term]) -> list[list[int]]:
    """For each term position, itself and every term below it."""
    children: dict[int, list[int]] = {}
    for position, term in enumerate(terms):
        if term.parent is not None:
            children.setdefault(term.parent, []).append(position)
    out = []
    for position in range(len(terms)):
        stack, seen = [position], []
        while stack:
            node = stack.pop()
            seen.append(node)
            stack.extend(children.get(node, []))
        out.append(seen)
    return out


class SearchIndex:
    """Masks of services per filter value, and the result orders of each sort."""

    def __init__(
        self, catalogue: Catalogue, vocab: EoscVocabulary, rng: np.random.Generator
    ) -> None:
        n = catalogue.n
        records = catalogue.records
        self.catalogue = catalogue
        self.vocab = vocab
        self.recommendable = catalogue.recommendable
        self.masks: dict[str, dict[Any, BoolArray]] = {}
        for name, field in _ID_FILTERS.items():
            terms = vocab.vocabularies()[field]
            direct = np.zeros((len(terms) + 1, n), dtype=bool)
            for row, record in enumerate(records):
                direct[record[field], row] = True
            below = _descendants(terms)
            self.masks[name] = {
                t + 1: np.asarray(direct[[d + 1 for d in below[t]]].any(axis=0), dtype=bool)
                for t in range(len(terms))
            }
        countries: dict[Any, BoolArray] = {}
        for row, record in enumerate(records):
            for code in record["countries"]:
                countries.setdefault(code, np.zeros(n, dtype=bool))[row] = True
        self.masks["geographical_availabilities"] = countries
        order_types = np.array([r["order_type"] for r in records])
        self.masks["order_type"] = {value: order_types == value for value in vocab.order_types}
        self.rating = np.array([r["rating"] or 0.0 for r in records])
        self.text = [f"{r['name']} {r['tagline']}".lower() for r in records]
        self._query_masks: dict[str, BoolArray] = {}
        # The portal's own relevance order: quality seen through its search engine's noise.
        relevance = catalogue.quality + rng.normal(0, 0.5, size=n)
        self.orders = {
            "_score": np.argsort(-relevance, kind="stable"),
            "sort_name": np.argsort(np.array([r["name"].lower() for r in records]), kind="stable"),
            "-rating": np.argsort(-self.rating, kind="stable"),
        }
        k = vocab.n_clusters
        self.weights = {
            "scientific_domains": membership(vocab.scientific_domains, k) ** 3,
            "categories": membership(vocab.categories, k) ** 3,
            "related_platforms": membership(vocab.platforms, k) ** 2,
        }
        # Providers weigh by the clusters of the services they offer here.
        provider_weights = np.zeros((len(vocab.providers), k))
        for row, record in enumerate(records):
            for p in record["providers"]:
                provider_weights[p - 1] += catalogue.topics[row]
        self.weights["providers"] = provider_weights
        # Per filter kind and cluster, cumulative weights of the values: a draw is a bisection.
        self.cumulative = {kind: np.cumsum(w.T, axis=1) for kind, w in self.weights.items()}
        self.cluster_rows = [
            np.flatnonzero(self.recommendable & (catalogue.topics[:, c] >= 0.5)) for c in range(k)
        ]

    def query_mask(self, q: str) -> BoolArray:
        mask = self._query_masks.get(q)
        if mask is None:
            needle = q.lower()
            mask = np.array([needle in text for text in self.text], dtype=bool)
            self._query_masks[q] = mask
        return mask

    def matches(self, search: Mapping[str, Any]) -> BoolArray:
        """Recommendable services that match every filter of a `search_data` object."""
        mask = self.recommendable.copy()
        for name, values in search.items():
            if name == "q":
                mask &= self.query_mask(values)
            elif name == "rating":
                mask &= self.rating >= float(values)
            elif name == "order_type":
                mask &= self.masks[name][values]
            elif name in self.masks and values:
                empty = np.zeros_like(mask)
                mask &= np.logical_or.reduce([self.masks[name].get(v, empty) for v in values])
        return mask

    def results(self, search: Mapping[str, Any], mask: BoolArray, limit: int) -> IntArray:
        """Rows of the first page of results, in the order the search's sort asks for."""
        order = self.orders.get(str(search.get("sort", "_score")), self.orders["_score"])
        return np.asarray(order[mask[order]][:limit], dtype=np.int64)

    def draw(
        self, rng: np.random.Generator, cluster: int, refined: bool = False
    ) -> tuple[dict[str, Any], BoolArray]:
        """A search a visitor looking for services of `cluster` makes, and its matches.

        A draw that leaves fewer than a panel's worth of services drops its last filter, as a
        visitor who sees an empty page would.
        """
        filters: list[tuple[str, Any]] = []
        if rng.random() >= (REFINED_NO_FILTER_SHARE if refined else NO_FILTER_SHARE):
            kinds = [_pick(rng, _FILTER_CDF)]
            if rng.random() < SECOND_FILTER_SHARE:
                second = _pick(rng, _FILTER_CDF)
                if second != kinds[0]:
                    kinds.append(second)
            for kind in (_FILTER_KINDS[i] for i in kinds):
                value = self._value(rng, kind, cluster)
                if value is not None:
                    filters.append((kind, value))
        sort = _SORT_NAMES[_pick(rng, _SORT_CDF)]
        while True:
            search: dict[str, Any] = dict(filters)
            search["sort"] = sort
            mask = self.matches(search)
            if int(mask.sum()) >= 3 or not filters:
                return search, mask
            filters.pop()

    def _value(self, rng: np.random.Generator, kind: str, cluster: int) -> Any:
        if kind in self.cumulative:
            cumulative = self.cumulative[kind][cluster]
            return [_pick(rng, cumulative) + 1] if cumulative[-1] > 0 else None
        if kind == "target_users":
            return [int(rng.integers(len(self.vocab.target_users))) + 1]
        if kind == "geographical_availabilities":
            return [str(rng.choice(self.vocab.european_countries))]
        if kind == "order_type":
            return str(rng.choice(self.vocab.order_types))
        if kind == "q":
            rows = self.cluster_rows[cluster]
            if rows.size == 0:
                return None
            name = self.catalogue.records[int(rows[rng.integers(rows.size)])]["name"]
            words = [w for w in _WORD.findall(name) if w.lower() not in _STOP_WORDS]
            return str(words[int(rng.integers(len(words)))]) if words else None
        raise ValueError(f"unknown filter {kind!r}")
