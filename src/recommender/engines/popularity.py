"""Popularity: services ranked by how many users use them, among users of the request's context."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recommender.arrays import FloatArray, IntArray
from recommender.engines.base import (
    Artifact,
    Engine,
    EngineParams,
    Explanation,
    LastQuery,
    Model,
    Names,
    Query,
    TrainingOptions,
)
from recommender.engines.lookup import IdIndex
from recommender.interactions import Interactions

CONTEXT_FEATURES = ("scientific_domains", "categories")
DENSE_CONTEXT_LIMIT = 20_000_000  # cells; 80 MB of float32


class PopularityParams(EngineParams):
    smoothing: float = Field(
        default=5.0,
        ge=0,
        description="Pseudo-users drawn from global popularity added to every context, so a "
        "context with few users does not rank by noise.",
    )


@dataclass(frozen=True)
class Use:
    """A user's first use of an item, with what the user declared (for context counts)."""

    item: int
    scientific_domains: tuple[int, ...] = ()
    categories: tuple[int, ...] = ()


class PopularityModel(Model):
    """Per-item counts of distinct users, overall and per context value (domain, category)."""

    engine = "popularity"

    def __init__(
        self,
        item_ids: IntArray,
        counts: FloatArray,
        n_users: int,
        context: dict[str, tuple[IntArray, sp.csr_matrix, FloatArray]],
        smoothing: float,
    ) -> None:
        self.item_ids = item_ids
        self.counts = counts
        self.n_users = n_users
        # feature -> (value ids, value x item user counts, users per value)
        self.context = context
        self.smoothing = smoothing
        self._count(counts)
        self._index = IdIndex(item_ids)
        self._every = np.arange(item_ids.shape[0])
        self._order: tuple[IntArray, FloatArray] | None = None
        self._rows_of: LastQuery[list[tuple[str, int, int]]] = LastQuery()
        # Dense copies of small context tables: a row of a dense array is a view, while a
        # sparse row costs a conversion per request.
        # Asked up to three times per request (ordering, scores, explanations).
        self._value_rows = {
            feature: {int(value): row for row, value in enumerate(values.tolist())}
            for feature, (values, _, _) in context.items()
        }
        self._dense = {
            feature: np.asarray(table.toarray(), dtype=np.float32)
            for feature, (_, table, _) in context.items()
            if table.shape[0] * table.shape[1] <= DENSE_CONTEXT_LIMIT
        }

    def _count(self, counts: FloatArray) -> None:
        """Each item's share of the users, that share times the smoothing, and the most
        users of any item (no context count is higher)."""
        self._share = counts / max(self.n_users, 1)
        self._smoothed = self.smoothing * self._share
        self._most_users = float(counts.max()) if counts.shape[0] else 0.0

    def _positions(self, items: IntArray) -> IntArray:
        return self._index(items)

    def _context_rows(self, query: Query) -> list[tuple[str, int, int]]:
        """(feature, value id, row) for every context value of the query this model knows."""
        known = self._rows_of.get(query)
        if known is not None:
            return known
        rows = []
        for feature, values in (
            ("scientific_domains", query.scientific_domains),
            ("categories", query.categories),
        ):
            if feature not in self.context or not values:
                continue
            where = self._value_rows[feature]
            for value in dict.fromkeys(values):
                row = where.get(int(value))
                if row is not None:
                    rows.append((feature, int(value), row))
        return self._rows_of.keep(query, rows)

    def _row(self, feature: str, counts: sp.csr_matrix, row: int) -> FloatArray:
        dense = self._dense.get(feature)
        if dense is not None:
            return np.asarray(dense[row])
        return np.asarray(counts[row].toarray().ravel(), dtype=np.float32)

    def _scores_at(self, query: Query, pos: IntArray) -> FloatArray:
        every = pos is self._every  # the whole catalogue: rows as they are, no gathering
        rows = self._context_rows(query)
        if not rows:
            return (self._share if every else self._share[pos]).astype(np.float32)
        # This runs for most requests (any search filter or profile): each pass over the
        # catalogue costs as much as the rest, so the rows are summed in place, as float32
        # while that is exact (whole counts below 2**24), and the sum is shrunk towards the
        # global share and divided in float64, written to float32 in the same pass.
        exact = len(rows) * self._most_users < 2**24
        hits: FloatArray | None = None
        users = 0.0
        for feature, _value, row in rows:
            _, counts, per_value = self.context[feature]
            values = self._row(feature, counts, row)
            picked = values if every else values[pos]
            if hits is None:
                hits = picked.astype(np.float32 if exact else np.float64)
            else:
                hits += picked
            users += float(per_value[row])
        assert hits is not None
        # Shrink the context's share towards the global share.
        smoothed = self._smoothed if every else self._smoothed[pos]
        total = np.add(hits, smoothed, dtype=np.float64)
        scores: FloatArray = np.empty(total.shape[0], dtype=np.float32)
        np.divide(total, users + self.smoothing, out=scores, casting="same_kind")
        return scores

    def knows(self, query: Query) -> bool:
        return True

    def score_all(self, query: Query) -> tuple[IntArray, FloatArray]:
        return self.item_ids, self._scores_at(query, self._every)

    def ordering(self, query: Query) -> tuple[IntArray, FloatArray] | None:
        if self._context_rows(query):
            return None
        if self._order is None:
            # Ties by id: the ids are sorted and the sort is stable.
            order = np.argsort(-self._share, kind="stable")
            self._order = (self.item_ids[order], self._share[order].astype(np.float32))
        return self._order

    def score(self, query: Query, items: IntArray) -> FloatArray:
        pos = self._positions(np.asarray(items, dtype=np.int64))
        known = pos >= 0
        out = np.full(pos.shape[0], np.nan, dtype=np.float32)
        out[known] = self._scores_at(query, pos[known])
        return out

    def explain(self, query: Query, items: IntArray, names: Names) -> list[Explanation]:
        pos = self._positions(np.asarray(items, dtype=np.int64)).tolist()
        # Each context value's row and name, once for the whole panel.
        named: list[tuple[FloatArray, str]] = []
        for feature, value, row in self._context_rows(query):
            lookup = names.scientific_domain if feature == "scientific_domains" else names.category
            label = lookup(value)
            if label:
                named.append((self._row(feature, self.context[feature][1], row), label))
        explanations = []
        for p in pos:
            best: tuple[float, str] | None = None
            if p >= 0:
                for values, label in named:
                    users = float(values[p])
                    if users > 0 and (best is None or users > best[0]):
                        best = (users, label)
            total = int(self.counts[p]) if p >= 0 else 0
            if best is not None:
                users = int(best[0])
                who = "researcher working" if users == 1 else "researchers working"
                verb = "uses" if users == 1 else "use"
                explanations.append(
                    Explanation(
                        short=f"Popular among users in {best[1]}",
                        long=f"{users} {who} in {best[1]} {verb} this service.",
                    )
                )
            elif total > 0:
                noun = "researcher uses" if total == 1 else "researchers use"
                explanations.append(
                    Explanation(
                        short="Popular in the Marketplace",
                        long=f"{total} {noun} this service.",
                    )
                )
            else:
                explanations.append(
                    Explanation(
                        short="Matches your search",
                        long="This service matches your search; few researchers have used it yet.",
                    )
                )
        return explanations

    def with_uses(self, uses: Sequence[Use]) -> PopularityModel:
        """This model counting each of `uses` too: a user who started using an item, with
        their declared interests. Items it does not know are passed over; the users per
        context value stay as they were until the next fit.

        Serving calls this on every refresh with the uses since the last fit, so the work is
        one sparse sum per context feature and the lookups this model already holds."""
        counts = self.counts.copy()
        cells: dict[str, tuple[list[int], list[int]]] = {f: ([], []) for f in self.context}
        positions = self._index(np.fromiter((u.item for u in uses), np.int64, len(uses)))
        for use, pos in zip(uses, positions.tolist(), strict=True):
            if pos < 0:
                continue
            counts[pos] += 1.0
            for feature, values in (
                ("scientific_domains", use.scientific_domains),
                ("categories", use.categories),
            ):
                where = self._value_rows.get(feature)
                if where is None:
                    continue
                rows, cols = cells[feature]
                for value in set(values):
                    row = where.get(int(value))
                    if row is not None:
                        rows.append(row)
                        cols.append(pos)
        updated = copy.copy(self)
        updated.counts = counts
        updated._count(counts)
        updated._order = None
        updated.context = dict(self.context)
        updated._dense = dict(self._dense)
        for feature, (rows, cols) in cells.items():
            if not rows:
                continue
            vocab, table, per_value = self.context[feature]
            delta = sp.csr_matrix(  # repeated cells are summed
                (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=table.shape
            )
            updated.context[feature] = (vocab, sp.csr_matrix(table + delta), per_value)
            dense = self._dense.get(feature)
            if dense is not None:
                dense = dense.copy()
                np.add.at(dense, (np.asarray(rows), np.asarray(cols)), 1.0)
                updated._dense[feature] = dense
        return updated

    def to_artifact(self) -> Artifact:
        arrays: dict[str, np.ndarray] = {"item_ids": self.item_ids, "counts": self.counts}
        for feature, (vocab, counts, per_value) in self.context.items():
            arrays[f"{feature}.vocab"] = vocab
            arrays[f"{feature}.data"] = counts.data
            arrays[f"{feature}.indices"] = counts.indices
            arrays[f"{feature}.indptr"] = counts.indptr
            arrays[f"{feature}.users"] = per_value
        return Artifact(
            arrays=arrays,
            meta={
                "n_users": self.n_users,
                "smoothing": self.smoothing,
                "features": sorted(self.context),
            },
        )

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        a = artifact.arrays
        item_ids = a["item_ids"]
        context = {}
        for feature in artifact.meta["features"]:
            vocab = a[f"{feature}.vocab"]
            counts = sp.csr_matrix(
                (a[f"{feature}.data"], a[f"{feature}.indices"], a[f"{feature}.indptr"]),
                shape=(vocab.shape[0], item_ids.shape[0]),
            )
            context[feature] = (vocab, counts, a[f"{feature}.users"])
        return cls(
            item_ids=item_ids,
            counts=a["counts"],
            n_users=int(artifact.meta["n_users"]),
            context=context,
            smoothing=float(artifact.meta["smoothing"]),
        )


class PopularityEngine(Engine[PopularityParams]):
    name = "popularity"
    params_type = PopularityParams
    model_type = PopularityModel
    trainable = False

    def fit(self, data: Interactions, options: TrainingOptions | None = None) -> PopularityModel:
        used = data.binary()
        counts = np.asarray(used.sum(axis=0), dtype=np.float32).ravel()
        context: dict[str, tuple[IntArray, sp.csr_matrix, FloatArray]] = {}
        for feature in CONTEXT_FEATURES:
            membership = data.user_features.get(feature)
            if membership is None or membership.shape[1] == 0:
                continue
            member = membership.astype(np.float32).tocsc()
            member.data[:] = 1.0
            per_value = np.asarray(member.sum(axis=0), dtype=np.float32).ravel()
            by_value = sp.csr_matrix(member.T @ used, dtype=np.float32)
            context[feature] = (np.asarray(data.feature_vocab[feature]), by_value, per_value)
        return PopularityModel(
            item_ids=data.item_ids.copy(),
            counts=counts,
            n_users=data.n_users,
            context=context,
            smoothing=self.params.smoothing,
        )


def most_popular(model: PopularityModel, query: Query, items: IntArray, k: int) -> IntArray:
    """The k most popular of `items` for a query, best first (unknown items last)."""
    scores = np.nan_to_num(model.score(query, items), nan=-1.0)
    order = np.argsort(-scores, kind="stable")[:k]
    return items[order]


ENGINE = PopularityEngine

__all__: Sequence[str] = ("ENGINE", "PopularityEngine", "PopularityModel", "Use", "most_popular")
