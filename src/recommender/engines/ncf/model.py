"""A trained NCF model as numpy arrays: batched scoring, explanations, artifact round trip.

Training runs in PyTorch; serving does not need it. Everything that depends on one side only
is computed once when the model is built (the item half of the first MLP layer, the GMF item
vectors scaled by the output weights, the content vectors of services), so scoring a user
against every candidate is one pass of small matrix products.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import NDArray

from recommender.arrays import FloatArray, IntArray
from recommender.engines.base import Artifact, Explanation, Model, Names, Query
from recommender.engines.features import FeatureSpace
from recommender.engines.lookup import IdIndex, positions

Matrix = NDArray[np.float32]
# Hidden activations held at once while scoring a batch of users: rows x items x width.
_BATCH_CELLS = 4_000_000

# Arrays every model has; hidden MLP layers are stored as `mlp.{k}.weight` / `mlp.{k}.bias`.
_ARRAYS = (
    "user_ids",
    "item_ids",
    "user_gmf",
    "item_gmf",
    "user_mlp_in",
    "item_mlp_in",
    "mlp_out",
    "declared",
    "history",
    "item_vectors",
    "item_bias",
    "content_out",
    "warm",
    "popularity",
    "item_features.indptr",
    "item_features.indices",
)

# The softmax head's arrays, present when it was fitted.
_HEAD_ARRAYS = ("head_declared", "head_history", "head_items", "head_bias")
# The (declared interests, recent services) tables each part reads a person through.
_CONTENT_TABLES = ("declared", "history")
_HEAD_TABLES = ("head_declared", "head_history")


def recent_positions(index: IdIndex, history: IntArray, length: int) -> IntArray:
    """The positions of the last `length` distinct known items of a history (oldest first)."""
    pos = index(history)
    pos = pos[pos >= 0]
    if pos.shape[0] == 0 or length <= 0:
        return np.empty(0, dtype=np.int64)
    reversed_pos = pos[::-1]
    _, first = np.unique(reversed_pos, return_index=True)
    latest = np.sort(pos.shape[0] - 1 - first)
    return np.asarray(pos[latest][-length:], dtype=np.int64)


class NCFModel(Model):
    engine: ClassVar[str] = "ncf"

    def __init__(
        self,
        arrays: Mapping[str, NDArray[Any]],
        features: FeatureSpace,
        meta: Mapping[str, Any],
    ) -> None:
        self.arrays = dict(arrays)
        self.features = features
        self.meta = dict(meta)
        a = self.arrays
        self.user_ids: IntArray = a["user_ids"]
        self.item_ids: IntArray = a["item_ids"]
        self.item_index = IdIndex(self.item_ids)
        self.history_length = int(self.meta["history_length"])
        self.hidden = [
            (a[f"mlp.{k}.weight"], a[f"mlp.{k}.bias"]) for k in range(int(self.meta["mlp_hidden"]))
        ]
        self.warm: NDArray[np.bool_] = a["warm"].astype(bool)
        self.has_head = all(name in a for name in _HEAD_ARRAYS)
        # What the head's score counts for beside the fused score of someone with an id vector.
        self.head_weight = float(self.meta.get("head_weight", 1.0))
        self._curves: dict[str, list[float]] = dict(self.meta.get("curves", {}))
        self._fitted: dict[str, Any] = dict(self.meta.get("fitted", {}))

    # -- what the model knows about a query ---------------------------------------------

    def _user_row(self, query: Query) -> int:
        if query.user_id is None:
            return -1
        return int(positions(self.user_ids, [query.user_id])[0])

    def _known_by(self, query: Query) -> tuple[IntArray, IntArray]:
        """What a person is known by without an id: declared interests and recent services,
        as positions."""
        declared = self.features.encode_query(query.scientific_domains, query.categories)
        engaged = recent_positions(self.item_index, query.history, self.history_length)
        return declared, engaged

    def _person(
        self, known_by: tuple[IntArray, IntArray], tables: tuple[str, str]
    ) -> FloatArray | None:
        """The mean vector of the declared interests plus that of the recent services, from a
        (declared, history) pair of tables; None when the person has neither."""
        declared, engaged = known_by
        if declared.shape[0] == 0 and engaged.shape[0] == 0:
            return None
        declared_table, history_table = (self.arrays[name] for name in tables)
        vector = np.zeros(history_table.shape[1], dtype=np.float32)
        if declared.shape[0]:
            vector += declared_table[declared].mean(axis=0)
        if engaged.shape[0]:
            vector += history_table[engaged].mean(axis=0)
        return vector

    def user_vector(self, query: Query) -> FloatArray | None:
        """The content tower's view of the person; None when it knows nothing of them."""
        return self._person(self._known_by(query), _CONTENT_TABLES)

    def knows(self, query: Query) -> bool:
        return self._user_row(query) >= 0 or self.user_vector(query) is not None

    # -- scoring -------------------------------------------------------------------------

    def _content(self, vector: FloatArray | None, pos: IntArray) -> FloatArray:
        bias = self.arrays["item_bias"][pos]
        if vector is None:
            return np.asarray(bias, dtype=np.float32)
        weighted = self.arrays["content_out"] * vector
        return np.asarray(self.arrays["item_vectors"][pos] @ weighted + bias, dtype=np.float32)

    def _collaborative(self, rows: IntArray, pos: IntArray) -> Matrix:
        """GMF + MLP logits for known user rows x item positions."""
        a = self.arrays
        gmf = a["user_gmf"][rows] @ a["item_gmf"][pos].T
        out = np.empty((rows.shape[0], pos.shape[0]), dtype=np.float32)
        item_in = a["item_mlp_in"][pos]
        width = max(item_in.shape[1], 1)
        step = max(1, _BATCH_CELLS // max(pos.shape[0] * width, 1))
        for start in range(0, rows.shape[0], step):
            chunk = rows[start : start + step]
            hidden = np.maximum(item_in[None, :, :] + a["user_mlp_in"][chunk][:, None, :], 0.0)
            flat = hidden.reshape(-1, width)
            for weight, bias in self.hidden:
                flat = np.maximum(flat @ weight.T + bias, 0.0)
            out[start : start + step] = (flat @ a["mlp_out"]).reshape(chunk.shape[0], -1)
        return np.asarray(out + gmf, dtype=np.float32)

    def _finish(self, scores: FloatArray, pos: IntArray) -> FloatArray:
        if (pos < 0).any():
            scores = scores.copy()
            scores[..., pos < 0] = np.nan
        return np.asarray(scores, dtype=np.float32)

    def score(self, query: Query, items: IntArray) -> FloatArray:
        return np.asarray(self.score_batch([query], items)[0], dtype=np.float32)

    def _head(self, vector: FloatArray, pos: IntArray) -> FloatArray:
        a = self.arrays
        return np.asarray(a["head_items"][pos] @ vector + a["head_bias"][pos], dtype=np.float32)

    def score_batch(self, queries: Sequence[Query], items: IntArray) -> FloatArray:
        """People with an id vector: the fused score (GMF + MLP + content) plus the weighted
        head; everyone else: the head alone, or the content tower in a model without one."""
        pos = self.item_index(items)
        known = np.maximum(pos, 0)
        out = np.empty((len(queries), pos.shape[0]), dtype=np.float32)
        rows = np.array([self._user_row(q) for q in queries], dtype=np.int64)
        for n, query in enumerate(queries):
            known_by = self._known_by(query)
            head = self._person(known_by, _HEAD_TABLES) if self.has_head else None
            if rows[n] < 0 and head is not None:
                out[n] = self._head(head, known)
                continue
            out[n] = self._content(self._person(known_by, _CONTENT_TABLES), known)
            if rows[n] >= 0 and head is not None and self.head_weight:
                out[n] += self.head_weight * self._head(head, known)
        seen = np.flatnonzero(rows >= 0)
        if seen.shape[0] and pos.shape[0]:
            warm = self.warm[known]
            # Services without training data keep the content score alone.
            collaborative = self._collaborative(rows[seen], known[warm])
            block = out[seen]
            block[:, warm] += collaborative
            out[seen] = block
        return self._finish(out, pos)

    # -- explanations --------------------------------------------------------------------

    def _item_feature_positions(self, pos: int) -> IntArray:
        indptr = self.arrays["item_features.indptr"]
        return np.asarray(
            self.arrays["item_features.indices"][indptr[pos] : indptr[pos + 1]], dtype=np.int64
        )

    def explain(self, query: Query, items: IntArray, names: Names) -> list[Explanation]:
        explanations = super().explain(query, items, names)
        declared_positions, engaged = self._known_by(query)
        declared = set(declared_positions.tolist())
        for n, pos in enumerate(self.item_index(items)):
            if pos < 0:
                continue
            shared = [p for p in self._item_feature_positions(int(pos)).tolist() if p in declared]
            named = [
                (kind, label)
                for kind, value in (self.features.external(p) for p in shared)
                for label in [
                    names.scientific_domain(value)
                    if kind == "scientific_domains"
                    else names.category(value)
                ]
                if label
            ]
            if named:
                kind, label = named[0]
                noun = "research in" if kind == "scientific_domains" else "interest in"
                explanations[n] = Explanation(
                    short=f"Matches your interest in {label}",
                    long=f"Recommended for your {noun} {label}, which this service serves.",
                )
                continue
            if engaged.shape[0]:
                # The used service that adds most to this one's score, by the head where the
                # model has one (it ranks visitors and weighs in for users).
                used, target = (
                    ("head_history", "head_items") if self.has_head else ("history", "item_vectors")
                )
                closeness = self.arrays[used][engaged] @ self.arrays[target][pos]
                name = names.service(int(self.item_ids[engaged[int(np.argmax(closeness))]]))
                if name:
                    explanations[n] = Explanation(
                        short=f"Because you used {name}",
                        long=f"Researchers who use {name} often go on to use this service.",
                    )
        return explanations

    # -- what training recorded ----------------------------------------------------------

    @property
    def curves(self) -> dict[str, list[float]]:
        return self._curves

    @property
    def fitted_params(self) -> dict[str, Any]:
        return self._fitted

    # -- artifact ------------------------------------------------------------------------

    def to_artifact(self) -> Artifact:
        return Artifact(
            arrays={**self.arrays, **self.features.to_arrays()},
            meta={
                "engine": self.engine,
                **self.meta,
                "vocabularies": list(self.features.names),
            },
        )

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        meta = {k: v for k, v in artifact.meta.items() if k not in ("engine", "vocabularies")}
        names = list(artifact.meta.get("vocabularies", []))
        hidden = int(meta["mlp_hidden"])
        wanted = [*_ARRAYS] + [
            f"mlp.{k}.{part}" for k in range(hidden) for part in ("weight", "bias")
        ]
        missing = [name for name in wanted if name not in artifact.arrays]
        if missing:
            raise ValueError(f"ncf artifact lacks arrays {missing}")
        arrays = {name: artifact.arrays[name] for name in wanted}
        arrays |= {name: artifact.arrays[name] for name in _HEAD_ARRAYS if name in artifact.arrays}
        return cls(arrays, FeatureSpace.from_arrays(artifact.arrays, names), meta)
